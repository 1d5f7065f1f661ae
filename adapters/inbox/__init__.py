"""Inbound journals (ports/inbox.py): in memory, SQLite in the state folder, PostgreSQL."""
