"""Streaming polyphase resampling; the compiled twin when built, else pure Python.

``IMPLEMENTATION`` says which one was loaded ("c" or "py"); see ``ext/_select.py`` and the
reference twin ``ext/resample_py.py`` for the filter design and the streaming contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rustyclaw.ext._select import Implementation, load_twin

__all__ = ["DEFAULT_QUALITY", "IMPLEMENTATION", "QUALITIES", "Resampler", "resample"]

_impl, _which = load_twin("resample")
IMPLEMENTATION: Implementation = _which

if TYPE_CHECKING:
    from rustyclaw.ext.resample_py import DEFAULT_QUALITY, QUALITIES, Resampler, resample
else:
    Resampler = _impl.Resampler
    resample = _impl.resample
    QUALITIES = _impl.QUALITIES
    DEFAULT_QUALITY = _impl.DEFAULT_QUALITY
