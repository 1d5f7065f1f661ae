# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of ``rustyclaw.ext.resample_py``: same API, same filter table, same outputs.

The filter table comes from the reference twin's ``design`` (shared and cached), so the two can
never drift apart; this module only runs the inner loop in C over a fixed history buffer of
``taps - 1 + chunk`` doubles that is reused between calls.
"""

from cpython cimport array
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memmove

import array as _array_mod

from rustyclaw.ext import resample_py as _ref

QUALITIES = _ref.QUALITIES
DEFAULT_QUALITY = _ref.DEFAULT_QUALITY
MAX_PHASES = _ref.MAX_PHASES
reduced_ratio = _ref.reduced_ratio
design = _ref.design
as_floats = _ref.as_floats

cdef array.array _FLOAT_TEMPLATE = _array_mod.array("f")


cdef class Resampler:
    """One stream converted from ``in_rate`` to ``out_rate``: ``process`` each chunk, then ``flush``."""

    cdef readonly int in_rate
    cdef readonly int out_rate
    cdef readonly str quality
    cdef object _design
    cdef array.array _table_obj
    cdef const double* _table
    cdef long _up, _down, _taps, _half
    cdef double* _buf
    cdef Py_ssize_t _cap
    cdef Py_ssize_t _held
    cdef long _phase
    cdef long long _consumed
    cdef long long _produced
    cdef bint _identity

    def __cinit__(self):
        self._buf = NULL

    def __init__(self, int in_rate, int out_rate, str quality=DEFAULT_QUALITY):
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.quality = quality
        d = design(in_rate, out_rate, quality)
        self._design = d
        self._table_obj = d.table
        self._table = <const double*> self._table_obj.data.as_doubles
        self._up = d.up
        self._down = d.down
        self._taps = d.taps
        self._half = d.half_width
        self._identity = in_rate == out_rate
        self._ensure(self._taps)
        self._reset()

    def __dealloc__(self):
        if self._buf != NULL:
            free(self._buf)

    cdef void _reset(self):
        cdef Py_ssize_t i
        self._held = self._half - 1
        for i in range(self._held):
            self._buf[i] = 0.0
        self._phase = 0
        self._consumed = 0
        self._produced = 0

    cdef int _ensure(self, Py_ssize_t size) except -1:
        cdef double* grown
        if size <= self._cap:
            return 0
        grown = <double*> realloc(self._buf, size * sizeof(double))
        if grown == NULL:
            raise MemoryError()
        self._buf = grown
        self._cap = size
        return 0

    @property
    def state_size(self):
        """Samples held between calls (always fewer than the filter's taps)."""
        return self._held

    @property
    def delay(self):
        """Input samples the stream holds back before it can emit the outputs that need them."""
        return self._half

    def process(self, chunk):
        """Resampled output for ``chunk``; outputs whose window reaches past it come later."""
        cdef const float[::1] samples = as_floats(chunk)
        cdef Py_ssize_t n = samples.shape[0]
        cdef Py_ssize_t i
        if self._identity:
            out = array.clone(_FLOAT_TEMPLATE, n, zero=False)
            for i in range(n):
                out.data.as_floats[i] = samples[i]
            return out
        self._consumed += n
        # Work in blocks so the buffer stays small whatever the chunk size.
        result = array.clone(_FLOAT_TEMPLATE, 0, zero=False)
        cdef Py_ssize_t start = 0
        cdef Py_ssize_t block
        while start < n:
            block = min(n - start, 65536)
            self._ensure(self._held + block)
            for i in range(block):
                self._buf[self._held + i] = samples[start + i]
            self._held += block
            array.extend(result, self._run(-1))
            start += block
        return result

    def flush(self):
        """The remaining outputs (input beyond the end is silence); then the stream starts afresh."""
        cdef Py_ssize_t i
        cdef long long total
        if self._identity:
            return array.clone(_FLOAT_TEMPLATE, 0, zero=False)
        total = -((-self._consumed * self._up) // self._down)
        self._ensure(self._held + self._half + 1)
        for i in range(self._half + 1):
            self._buf[self._held + i] = 0.0
        self._held += self._half + 1
        tail = self._run(total - self._produced)
        self._reset()
        return tail

    cdef array.array _run(self, long long limit):
        cdef Py_ssize_t last = self._held - self._taps
        cdef Py_ssize_t pos = 0
        cdef long phase = self._phase
        cdef long up = self._up, down = self._down, taps = self._taps
        cdef Py_ssize_t n, k
        cdef const double* row
        cdef const double* x
        cdef double s0, s1, s2, s3
        out = array.clone(_FLOAT_TEMPLATE, 0, zero=False)
        n = 0
        cdef float* dst
        # Outputs with pos <= last number at most (last + 1) * up / down + 1.
        cdef Py_ssize_t cap = ((last + 1) * up) // down + 2 if last >= 0 else 0
        if limit >= 0 and cap > limit:
            cap = limit
        array.resize(out, cap)
        dst = out.data.as_floats
        while pos <= last and n < cap:
            row = self._table + phase * taps
            x = self._buf + pos
            s0 = s1 = s2 = s3 = 0.0
            k = 0
            while k + 4 <= taps:
                s0 += row[k] * x[k]
                s1 += row[k + 1] * x[k + 1]
                s2 += row[k + 2] * x[k + 2]
                s3 += row[k + 3] * x[k + 3]
                k += 4
            while k < taps:
                s0 += row[k] * x[k]
                k += 1
            dst[n] = <float> ((s0 + s1) + (s2 + s3))
            n += 1
            phase += down
            pos += phase // up
            phase = phase % up
        array.resize(out, n)
        self._phase = phase
        if pos > 0:
            memmove(self._buf, self._buf + pos, (self._held - pos) * sizeof(double))
            self._held -= pos
        self._produced += n
        return out


def resample(samples, int in_rate, int out_rate, str quality=DEFAULT_QUALITY):
    """One-shot conversion of a whole signal (the same numbers as streaming it)."""
    stream = Resampler(in_rate, out_rate, quality)
    out = stream.process(samples)
    array.extend(out, stream.flush())
    return out
