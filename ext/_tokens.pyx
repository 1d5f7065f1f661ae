# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ``rustyclaw.ext.tokens_py``: same functions, same integer arithmetic, same results.

The scan reads the str's code points straight from its compact storage (PyUnicode_READ with the
string's kind), so no Python object is made per character. The cost tables are imported from the
reference twin at module load so the two can never drift apart.
"""

from cpython.unicode cimport PyUnicode_DATA, PyUnicode_KIND, PyUnicode_READ

from rustyclaw.ext import tokens_py as _ref

cdef enum:
    WORD_TABLE_MAX = 16
    PUNCT_TABLE_MAX = 8
    N_SCRIPTS = 11

cdef enum:
    K_LOWER = 0
    K_UPPER = 1
    K_LETTER = 2
    K_DIGIT = 3
    K_SPACE = 4
    K_NEWLINE = 5
    K_PUNCT = 6
    K_SYMBOL = 7
    K_END = 8

cdef enum:
    P_NONE = 0
    P_SPACE = 1
    P_PUNCT = 2
    P_SYMBOL = 3

cdef long SPACED_WORD[WORD_TABLE_MAX + 1]
cdef long BARE_WORD[WORD_TABLE_MAX + 1]
cdef long PUNCT_RUN[PUNCT_TABLE_MAX + 1]
cdef long SCRIPT_BASE[N_SCRIPTS]
cdef long SCRIPT_CHAR[N_SCRIPTS]
cdef long SCRIPT_SPACED[N_SCRIPTS]
cdef long SYMBOL_CHAR[3]
cdef unsigned char ASCII_CLASS[128]

cdef long WORD_EXTRA_CHAR = _ref.WORD_EXTRA_CHAR
cdef long CAMEL_SEGMENT = _ref.CAMEL_SEGMENT
cdef long CAMEL_EXTRA_CHAR = _ref.CAMEL_EXTRA_CHAR
cdef long CAPS_CHAR = _ref.CAPS_CHAR
cdef long ASCII_IN_MIXED_WORD = _ref.ASCII_IN_MIXED_WORD
cdef long PUNCT_PREFIX_ASCII_WORD = _ref.PUNCT_PREFIX_ASCII_WORD
cdef long PUNCT_PREFIX_OTHER_WORD = _ref.PUNCT_PREFIX_OTHER_WORD
cdef long SYMBOL_PREFIX_ASCII_WORD = _ref.SYMBOL_PREFIX_ASCII_WORD
cdef long SYMBOL_PREFIX_OTHER_WORD = _ref.SYMBOL_PREFIX_OTHER_WORD
cdef long PUNCT_REPEAT = _ref.PUNCT_REPEAT
cdef long DIGIT_GROUP = _ref.DIGIT_GROUP
cdef long SPACE_RUN = _ref.SPACE_RUN
cdef long NEWLINE_RUN = _ref.NEWLINE_RUN


cdef void _load_tables():
    cdef int i
    if len(_ref.SPACED_WORD) != WORD_TABLE_MAX + 1 or len(_ref.PUNCT_RUN) != PUNCT_TABLE_MAX + 1:
        raise ImportError("rustyclaw.ext._tokens was built against other table sizes; rebuild it")
    for i in range(WORD_TABLE_MAX + 1):
        SPACED_WORD[i] = _ref.SPACED_WORD[i]
        BARE_WORD[i] = _ref.BARE_WORD[i]
    for i in range(PUNCT_TABLE_MAX + 1):
        PUNCT_RUN[i] = _ref.PUNCT_RUN[i]
    for i in range(N_SCRIPTS):
        SCRIPT_BASE[i] = _ref.SCRIPT_BASE[i]
        SCRIPT_CHAR[i] = _ref.SCRIPT_CHAR[i]
        SCRIPT_SPACED[i] = _ref.SCRIPT_SPACED[i]
    for i in range(3):
        SYMBOL_CHAR[i] = _ref.SYMBOL_CHAR[i]
    for i in range(128):
        ASCII_CLASS[i] = _ref.char_class(i)


_load_tables()


cdef inline int _letter(int script) noexcept nogil:
    return K_LETTER | (script << 3)


cdef inline int _symbol(int cls) noexcept nogil:
    return K_SYMBOL | (cls << 3)


cdef int _char_class(Py_UCS4 cp) noexcept nogil:
    # Mirrors tokens_py.char_class branch for branch.
    if cp < 128:
        return ASCII_CLASS[cp]
    if cp < 0x800:
        if cp < 0xC0:
            if cp == 0xA0:
                return K_SPACE
            if cp == 0xAA or cp == 0xB5 or cp == 0xBA:
                return _letter(0)
            return _symbol(0)
        if cp < 0x370:
            if cp == 0xD7 or cp == 0xF7:
                return _symbol(0)
            return _letter(0)
        if cp < 0x400:
            if cp == 0x37E or cp == 0x387:
                return _symbol(0)
            return _letter(1)
        if cp < 0x530:
            if 0x482 <= cp <= 0x489:
                return _symbol(0)
            return _letter(2)
        if cp < 0x590:
            return _letter(3)
        if cp < 0x600:
            return _letter(4)
        if cp < 0x700:
            if (cp == 0x60C or cp == 0x61B or cp == 0x61F or cp == 0x6D4
                    or 0x660 <= cp <= 0x669 or 0x6F0 <= cp <= 0x6F9):
                return _symbol(0)
            return _letter(5)
        if 0x750 <= cp < 0x780:
            return _letter(5)
        return _letter(10)
    if cp < 0x10000:
        if cp < 0xE00:
            return _letter(6)
        if cp < 0xF00:
            return _letter(7)
        if cp < 0x2000:
            if 0x10A0 <= cp < 0x1100:
                return _letter(3)
            if 0x1100 <= cp < 0x1200:
                return _letter(8)
            if 0x1E00 <= cp < 0x1F00:
                return _letter(0)
            if cp >= 0x1F00:
                return _letter(1)
            return _letter(10)
        if cp < 0x3000:
            if cp <= 0x200A or cp == 0x202F or cp == 0x205F:
                return K_SPACE
            if cp == 0x2028 or cp == 0x2029:
                return K_NEWLINE
            return _symbol(1)
        if cp < 0x3040:
            if cp == 0x3000:
                return K_SPACE
            return _symbol(1)
        if cp < 0x3100:
            return _letter(9)
        if 0x3130 <= cp < 0x3190 or 0xAC00 <= cp < 0xD7B0:
            return _letter(8)
        if 0x3400 <= cp < 0xA000 or 0xF900 <= cp < 0xFB00:
            return _letter(9)
        if 0xFB50 <= cp < 0xFE00 or 0xFE70 <= cp < 0xFF00:
            return _letter(5)
        if 0xFF21 <= cp <= 0xFF3A or 0xFF41 <= cp <= 0xFF5A or 0xFF66 <= cp <= 0xFFDC:
            return _letter(9)
        return _symbol(1)
    if 0x20000 <= cp < 0x40000:
        return _letter(9)
    return _symbol(2)


def char_class(cp: int) -> int:
    """The class code of one code point (kind in the low 3 bits)."""
    if cp < 0 or cp > 0x10FFFF:
        raise ValueError("not a code point")
    return _char_class(<Py_UCS4>cp)


cdef inline long _ascii_segment(Py_ssize_t length, bint first, bint spaced) noexcept nogil:
    cdef Py_ssize_t extra
    if not first:
        extra = length - WORD_TABLE_MAX
        return CAMEL_SEGMENT + (extra * CAMEL_EXTRA_CHAR if extra > 0 else 0)
    if length <= WORD_TABLE_MAX:
        return SPACED_WORD[length] if spaced else BARE_WORD[length]
    return ((SPACED_WORD[WORD_TABLE_MAX] if spaced else BARE_WORD[WORD_TABLE_MAX])
            + (length - WORD_TABLE_MAX) * WORD_EXTRA_CHAR)


cdef long long _estimate(int ukind, void *data, Py_ssize_t n) noexcept:
    cdef long long total = 0
    cdef int prefix = P_NONE
    cdef Py_ssize_t i = 0, j, last, seg, n_ascii, segments, run
    cdef int code, kind, prev, first_script, script, following
    cdef long long script_cost, ascii_cost, symbol_cost
    cdef long caps
    cdef bint ascii_only, first_seg
    cdef Py_UCS4 cp, prev_cp
    while i < n:
        code = _char_class(PyUnicode_READ(ukind, data, i))
        kind = code & 7
        if kind <= K_LETTER:
            j = i
            ascii_only = True
            first_script = -1
            n_ascii = 0
            script_cost = 0
            caps = 0
            seg = 0
            ascii_cost = 0
            first_seg = True
            prev = -1
            while j < n:
                code = _char_class(PyUnicode_READ(ukind, data, j))
                kind = code & 7
                if kind > K_LETTER:
                    break
                if kind == K_LETTER:
                    script = code >> 3
                    if first_script < 0:
                        first_script = script
                    script_cost += SCRIPT_CHAR[script]
                    ascii_only = False
                else:
                    n_ascii += 1
                    if kind == K_UPPER:
                        if prev == K_LOWER:
                            ascii_cost += _ascii_segment(seg, first_seg, prefix == P_SPACE)
                            first_seg = False
                            seg = 0
                        elif prev == K_UPPER:
                            caps += 1
                    seg += 1
                prev = kind
                j += 1
            if ascii_only:
                total += ascii_cost + _ascii_segment(seg, first_seg, prefix == P_SPACE) + caps * CAPS_CHAR
                if prefix == P_PUNCT:
                    total += PUNCT_PREFIX_ASCII_WORD
                elif prefix == P_SYMBOL:
                    total += SYMBOL_PREFIX_ASCII_WORD
            else:
                total += SCRIPT_BASE[first_script] + script_cost + n_ascii * ASCII_IN_MIXED_WORD
                if prefix == P_SPACE:
                    total += SCRIPT_SPACED[first_script]
                elif prefix == P_PUNCT:
                    total += PUNCT_PREFIX_OTHER_WORD
                elif prefix == P_SYMBOL:
                    total += SYMBOL_PREFIX_OTHER_WORD
            prefix = P_NONE
            i = j
        elif kind == K_DIGIT:
            j = i + 1
            while j < n and _char_class(PyUnicode_READ(ukind, data, j)) == K_DIGIT:
                j += 1
            total += (j - i + 2) // 3 * DIGIT_GROUP
            prefix = P_NONE
            i = j
        elif kind == K_SPACE:
            j = i + 1
            while j < n and _char_class(PyUnicode_READ(ukind, data, j)) == K_SPACE:
                j += 1
            run = j - i
            i = j
            prefix = P_NONE
            if j == n:
                total += SPACE_RUN
                continue
            following = _char_class(PyUnicode_READ(ukind, data, j)) & 7
            if following == K_NEWLINE:
                continue
            if following == K_DIGIT:
                total += 2 * SPACE_RUN if run > 1 else SPACE_RUN
                continue
            if run > 1:
                total += SPACE_RUN
            prefix = P_SPACE
        elif kind == K_NEWLINE:
            j = i + 1
            last = i
            while j < n:
                kind = _char_class(PyUnicode_READ(ukind, data, j)) & 7
                if kind == K_NEWLINE:
                    last = j
                elif kind != K_SPACE:
                    break
                j += 1
            total += NEWLINE_RUN
            prefix = P_NONE
            i = last + 1
        else:
            j = i
            segments = 0
            n_ascii = 0
            symbol_cost = 0
            prev_cp = 0x110000
            while j < n:
                cp = PyUnicode_READ(ukind, data, j)
                code = _char_class(cp)
                kind = code & 7
                if kind == K_PUNCT:
                    if cp != prev_cp:
                        segments += 1
                    n_ascii += 1
                elif kind == K_SYMBOL:
                    symbol_cost += SYMBOL_CHAR[code >> 3]
                else:
                    break
                prev_cp = cp
                j += 1
            following = _char_class(PyUnicode_READ(ukind, data, j)) & 7 if j < n else K_END
            if j - i == 1 and following <= K_LETTER and prefix != P_SPACE:
                prefix = P_PUNCT if n_ascii else P_SYMBOL
                i = j
                continue
            if n_ascii:
                total += (PUNCT_RUN[segments if segments < PUNCT_TABLE_MAX else PUNCT_TABLE_MAX]
                          + (n_ascii - segments) * PUNCT_REPEAT)
            total += symbol_cost
            if following == K_NEWLINE:
                while j < n and _char_class(PyUnicode_READ(ukind, data, j)) & 7 == K_NEWLINE:
                    j += 1
            prefix = P_NONE
            i = j
    return (total + 500) // 1000


def estimate(str text) -> int:
    """Estimated number of cl100k_base tokens in ``text`` (special tokens counted as plain text)."""
    cdef Py_ssize_t n = len(text)
    if n == 0:
        return 0
    return _estimate(PyUnicode_KIND(text), PyUnicode_DATA(text), n)


MESSAGE_OVERHEAD = _ref.MESSAGE_OVERHEAD
NAME_OVERHEAD = _ref.NAME_OVERHEAD
REPLY_PRIMING = _ref.REPLY_PRIMING
cdef long long C_MESSAGE_OVERHEAD = MESSAGE_OVERHEAD
cdef long long C_NAME_OVERHEAD = NAME_OVERHEAD
cdef long long C_REPLY_PRIMING = REPLY_PRIMING


def message_overhead(bint has_name) -> int:
    """Tokens the chat format adds around one message for cl100k models (3, or 4 with a name)."""
    return C_MESSAGE_OVERHEAD + C_NAME_OVERHEAD if has_name else C_MESSAGE_OVERHEAD


def count_messages(token_counts, names=None) -> int:
    """Prompt tokens of a chat request: content tokens + 3 per message (+1 per name) + 3 reply priming."""
    cdef Py_ssize_t i, n = len(token_counts)
    cdef long long total = C_REPLY_PRIMING
    if names is not None and len(names) != n:
        raise ValueError("names must have one entry per message")
    if names is None:
        for i in range(n):
            total += <long long>token_counts[i] + C_MESSAGE_OVERHEAD
    else:
        for i in range(n):
            total += <long long>token_counts[i] + C_MESSAGE_OVERHEAD
            if names[i]:
                total += C_NAME_OVERHEAD
    return total
