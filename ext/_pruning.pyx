# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ``rustyclaw.ext.pruning_py.plan``: same inputs, same algorithm, same results.

``tokens`` and ``trimmed`` are read through PySequence_Fast (no copy for lists and tuples) into C
arrays of 64-bit ints, and ``turn_start`` into a C array of flags.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject, PyObject_IsTrue
from cpython.sequence cimport PySequence_Fast, PySequence_Fast_GET_SIZE


cdef extern from "Python.h":
    PyObject** PySequence_Fast_ITEMS(object o)


cdef int _read_ints(object seq, long long *out, Py_ssize_t n) except -1:
    cdef object fast = PySequence_Fast(seq, "expected a sequence of ints")
    cdef PyObject** items = PySequence_Fast_ITEMS(fast)
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = <long long>(<object>items[i])
    return 0


cdef int _read_flags(object seq, char *out, Py_ssize_t n) except -1:
    cdef object fast = PySequence_Fast(seq, "expected a sequence of bools")
    cdef PyObject** items = PySequence_Fast_ITEMS(fast)
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = PyObject_IsTrue(<object>items[i])
    return 0


def plan(tokens, trimmed, turn_start, long long budget):
    """Fit a history into ``budget`` tokens: ``(start, trims)``; see ``pruning_py.plan``."""
    cdef Py_ssize_t n = len(tokens)
    if len(trimmed) != n or len(turn_start) != n:
        raise ValueError("tokens, trimmed and turn_start must have one entry per message")
    if n == 0:
        return 0, []
    cdef long long *cost = <long long *>PyMem_Malloc(2 * n * sizeof(long long) + n)
    if cost == NULL:
        raise MemoryError()
    cdef long long *cheap = cost + n
    cdef char *starts = <char *>(cost + 2 * n)
    cdef long long total = 0
    cdef Py_ssize_t i, start, first_kept, n_trims = 0
    cdef list trims = []
    try:
        _read_ints(tokens, cost, n)
        for i in range(n):
            total += cost[i]
        if total <= budget:
            return 0, []
        _read_ints(trimmed, cheap, n)
        for i in range(n):
            if 0 <= cheap[i] < cost[i]:
                total -= cost[i] - cheap[i]
                cost[i] = cheap[i]  # from here on cost[] holds the trimmed cost
                trims.append(i)
                n_trims += 1
                if total <= budget:
                    return 0, trims
        _read_flags(turn_start, starts, n)
        start = 0
        while start < n:
            if total <= budget and starts[start]:
                break
            total -= cost[start]
            start += 1
        if start == n:
            start = n - 1
            while start > 0 and not starts[start]:
                start -= 1
            if not starts[start]:
                start = n - 1
        first_kept = 0
        while first_kept < n_trims and <Py_ssize_t>trims[first_kept] < start:
            first_kept += 1
        return start, trims[first_kept:]
    finally:
        PyMem_Free(cost)
