"""Context pruning plan; the compiled twin when built, else pure Python.

``IMPLEMENTATION`` says which one was loaded ("c" or "py"); see ``ext/_select.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rustyclaw.ext._select import Implementation, load_twin

__all__ = ["IMPLEMENTATION", "plan"]

_impl, _which = load_twin("pruning")
IMPLEMENTATION: Implementation = _which

if TYPE_CHECKING:
    from rustyclaw.ext.pruning_py import plan
else:
    plan = _impl.plan
