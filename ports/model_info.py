"""What a model server says about its models (the context window), for budgets that fit the model."""

from __future__ import annotations

from typing import Protocol


class ContextWindowProbe(Protocol):
    async def context_window(self, model_ref: str) -> int | None:
        """The context length (tokens) the server runs `provider/model` with, or None when it does
        not say (or cannot be reached now; the caller asks again later)."""
        ...
