"""The cron scheduler and where it keeps its jobs' state."""
