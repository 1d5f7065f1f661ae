"""The resampler's compiled twin against its pure-Python twin, python-soxr, scipy and PyAV.

Groups name the ratio (``resample-22050-16000``: Piper to Whisper, ``resample-22050-48000``: Piper
to Opus, ``resample-48000-16000``, ``resample-44100-16000``). Input: 10 s of a noisy sweep (1 s for
the pure-Python twin, whose time is scaled by 10 in the ``figures`` record). soxr runs at "HQ"
(our default "high" sits between its HQ and VHQ); scipy is ``resample_poly`` (Kaiser beta 5);
PyAV is FFmpeg's swresample through ``av.AudioResampler``.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
import pytest

from rustyclaw.ext import resample_py

RATIOS = [(22050, 16000), (22050, 48000), (48000, 16000), (44100, 16000)]
SECONDS = 10.0


def _signal(rate: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(rate)
    t = np.arange(int(rate * seconds)) / rate
    sweep = 0.5 * np.sin(2 * np.pi * (50 * t + 3000 / seconds * t * t))
    return (sweep + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def _compiled() -> Any:
    try:
        return importlib.import_module("rustyclaw.ext._resample")
    except ImportError:
        pytest.skip("rustyclaw.ext._resample is not built")


def _pyav(signal: np.ndarray, in_rate: int, out_rate: int) -> Any:
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=out_rate)
    frame = av.AudioFrame.from_ndarray(signal[None, :], format="flt", layout="mono")
    frame.sample_rate = in_rate
    out = [f.to_ndarray() for f in resampler.resample(frame)]
    out += [f.to_ndarray() for f in resampler.resample(None)]
    return out


@pytest.mark.parametrize(("in_rate", "out_rate"), RATIOS, ids=[f"{a}-{b}" for a, b in RATIOS])
@pytest.mark.parametrize("which", ["c", "py", "soxr", "scipy", "pyav"])
def test_resample(benchmark: Any, in_rate: int, out_rate: int, which: str) -> None:
    benchmark.group = f"resample-{in_rate}-{out_rate}"
    signal = _signal(in_rate, 1.0 if which == "py" else SECONDS)
    if which == "c":
        run = _compiled().resample
        benchmark(run, signal, in_rate, out_rate)
    elif which == "py":
        benchmark.pedantic(resample_py.resample, (signal, in_rate, out_rate), rounds=1, iterations=1)
    elif which == "soxr":
        import soxr

        benchmark(soxr.resample, signal, in_rate, out_rate, "HQ")
    elif which == "scipy":
        from scipy.signal import resample_poly

        g = math.gcd(in_rate, out_rate)
        benchmark(resample_poly, signal, out_rate // g, in_rate // g)
    else:
        benchmark(_pyav, signal, in_rate, out_rate)
