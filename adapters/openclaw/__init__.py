"""Moving from OpenClaw: its config file, state extras and the migration command."""
