"""The agent's workspace folder, read for the bootstrap files of the system prompt."""

from __future__ import annotations

from typing import Protocol


class Workspace(Protocol):
    def read_text(self, agent_id: str, name: str, limit: int) -> str | None:
        """At most `limit` characters of a workspace file, or None when it does not exist."""
        ...
