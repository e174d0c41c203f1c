"""Compiled loops for the array engine (:mod:`mining._encoded`), imported on its first use.

Why compiled loops: on CPUs where NumPy's vectorised sort does not run, the engine's cheap
figures (start and end activities, service times) spent most of their time in a dozen NumPy
passes and Polars calls, each reading the whole column again: hashing a million case ids,
comparing neighbours, sorting or slot-tabling the distinct ones. One loop reads each row once
and stops early when it can.

Keys are ``(rows, width)`` ``uint64`` arrays. Width 2: each row's 16-byte Arrow string view,
which for a string of at most 12 bytes is the string itself (length, then its bytes padded
with zeros, as the Arrow format requires), so two such strings are equal exactly when both
words are; a longer string's view points into a data buffer, so a kernel that meets one
reports :data:`LONG` and the caller falls back to width 1, a 64-bit hash per row.

Functions are compiled on first call and cached next to this file, or in ``NUMBA_CACHE_DIR``
or the user's cache directory when the package is read-only; with no writable place at all
they are compiled in each process instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

#: Kernel statuses: the check held; it did not; a key was a long string view (retry hashed).
OK, NO, LONG = 0, 1, 2

_LOW32 = np.uint64(0xFFFFFFFF)
_INLINE = np.uint64(12)
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M3 = np.uint64(0xFF51AFD7ED558CCD)
_S = np.uint64(33)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_B8 = np.uint64(0x00FF00FF00FF00FF)
_B16 = np.uint64(0x0000FFFF0000FFFF)
_8, _16, _32 = np.uint64(8), np.uint64(16), np.uint64(32)
# Below this many values a range is finished by insertion sort; past this many partitions
# without reaching the wanted element, it is sorted instead (no quadratic worst case).
_SMALL = 16
_ROUNDS = 64
_BUCKET_BITS = 12


def _jit(function: Callable[..., Any], **options: Any) -> Any:
    try:
        return numba.njit(cache=True, nogil=True, **options)(function)
    except RuntimeError:  # numba found no writable cache directory
        return numba.njit(nogil=True, **options)(function)


def _inline(function: Callable[..., Any]) -> Any:
    """A helper compiled into each caller (separately compiled calls cost ~5 ns a row)."""
    return _jit(function, inline="always")


@_inline
def _words(keys: np.ndarray, row: int) -> tuple[np.uint64, np.uint64]:
    return keys[row, 0], keys[row, 1] if keys.shape[1] == 2 else _ZERO


@_inline
def _is_long(keys: np.ndarray, first: np.uint64) -> Any:
    return keys.shape[1] == 2 and (first & _LOW32) > _INLINE


@_inline
def _mix(first: np.uint64, second: np.uint64) -> np.int64:
    h = first * _M1 ^ second * _M2
    h ^= h >> _S
    h *= _M3
    h ^= h >> _S
    return np.int64(h >> _ONE)


@_inline
def _swap(x: np.uint64) -> np.uint64:
    """The word's bytes reversed: its first byte becomes the most significant."""
    x = ((x & _B8) << _8) | ((x >> _8) & _B8)
    x = ((x & _B16) << _16) | ((x >> _16) & _B16)
    return (x << _32) | (x >> _32)


@_jit
def scan_cases(
    keys: np.ndarray, end: np.ndarray, seq: np.ndarray, check_seq: bool
) -> tuple[int, np.ndarray, bool, bool]:
    """``(status, bounds, rising, falling)`` for rows grouped by case key in ``(end, seq)``
    order: ``bounds`` are the rows where a key's run starts, then the row count.

    :data:`NO` when a run's ends go back, or its ``seq`` on equal ends (read only there, and
    only when ``check_seq``: the caller may know ``seq`` ascends). Whether a key starts two
    runs is the caller's question; ``rising``/``falling`` answer it for sorted files and
    stores without a table: the run keys rise (fall) strictly, a view's words compared with
    their bytes reversed, i.e. its string by the first four bytes, length, then the rest.
    ``bounds`` is a view of a buffer of one word per row, of which only the heads' pages
    are ever touched.
    """
    n = keys.shape[0]
    bounds = np.empty(n + 1, dtype=np.int64)
    bounds[0] = 0
    if n == 0:
        return OK, bounds[:1], True, True
    first, second = _words(keys, 0)
    if _is_long(keys, first):
        return LONG, bounds[:0], False, False
    count = 1
    rising = falling = True
    head_first, head_second = _swap(first), _swap(second)
    before = end[0]
    for i in range(1, n):
        a, b = _words(keys, i)
        now = end[i]
        if _is_long(keys, a):
            return LONG, bounds[:0], False, False
        if a == first and b == second:
            if now < before or (check_seq and now == before and seq[i] < seq[i - 1]):
                return NO, bounds[:0], False, False
        else:
            bounds[count] = i
            count += 1
            first, second = a, b
            a, b = _swap(a), _swap(b)
            up = (a > head_first) | ((a == head_first) & (b > head_second))
            rising &= up
            falling &= not up
            head_first, head_second = a, b
        before = now
    bounds[count] = n
    return OK, bounds[: count + 1], rising, falling


@_jit
def code_rows(keys: np.ndarray, codes: np.ndarray, size: int) -> tuple[int, np.ndarray]:
    """``(status, firsts)``: fills ``codes`` with each row's dense code, numbered in order of
    first appearance; ``firsts`` holds each code's first row.

    The table (``size`` slots, a power of two) holds each code's key words, so a row costs
    one probe that is nearly always a hit, and codes are exact for string views; for hashed
    keys they are as exact as the hash. When it is half full the status is :data:`NO` and
    the caller starts again with a larger table: arrays replaced inside the loop would cost
    reference counting on every row. ``codes`` is allocated by the caller: NumPy asks for
    huge pages, which halves the cost of first touching a million of them.
    """
    limit = size // 2
    firsts = np.empty(limit, dtype=np.int64)
    mask = size - 1
    table = np.full(size, -1, dtype=np.int64)
    words = np.empty((size, 2), dtype=np.uint64)
    distinct = 0
    for i in range(keys.shape[0]):
        a, b = _words(keys, i)
        if _is_long(keys, a):
            return LONG, firsts[:0].copy()
        slot = _mix(a, b) & mask
        code = table[slot]
        while code >= 0 and (words[slot, 0] != a or words[slot, 1] != b):
            slot = (slot + 1) & mask
            code = table[slot]
        if code < 0:
            if distinct == limit:
                return NO, firsts[:0].copy()
            code = distinct
            distinct += 1
            firsts[code] = i
            table[slot] = code
            words[slot, 0] = a
            words[slot, 1] = b
        codes[i] = code
    return OK, firsts[:distinct].copy()


@_jit
def renumber(codes: np.ndarray, to: np.ndarray) -> None:
    """``codes[i] = to[codes[i]]`` in place (NumPy's ``take`` would allocate a copy)."""
    for i in range(codes.shape[0]):
        codes[i] = to[codes[i]]


@_jit
def _select(values: np.ndarray, low: int, high: int, k: int) -> None:
    """Put ``values[low:high]``'s element of rank ``k`` (absolute index) at ``k``, smaller
    ones before it and larger ones after. Hoare partitions around a median of three keep
    ranges of equal values balanced; ranges that do not shrink are sorted instead."""
    rounds = 0
    while high - low > _SMALL:
        rounds += 1
        if rounds > _ROUNDS:
            values[low:high].sort()
            return
        mid = (low + high - 1) // 2
        a, b, c = values[low], values[mid], values[high - 1]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
        pivot = max(a, b)
        i, j = low, high - 1
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        # [low, j] <= pivot, [i, high) >= pivot, anything between equals it.
        if k <= j:
            high = j + 1
        elif k >= i:
            low = i
        else:
            return
    for i in range(low + 1, high):  # insertion sort of the last few
        v = values[i]
        j = i - 1
        while j >= low and values[j] > v:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = v


@_inline
def _value(later: np.ndarray, earlier: np.ndarray, row: int) -> np.int64:
    if earlier.shape[0] == 0:
        return later[row]
    return later[row] - earlier[row]


@_jit
def group_sums(
    codes: np.ndarray, later: np.ndarray, earlier: np.ndarray, groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per code in ``range(groups)``, over the values ``later - earlier`` (``later`` alone
    when ``earlier`` is empty; never materialised, each pass reads both): count, exact total
    (int64: the caller knows whether it can overflow), float total, min and max.

    First of the passes of the per-group statistics (:func:`group_histogram`,
    :func:`group_collect`, :func:`group_squares`), each of which may run on part of the rows:
    medians and p95 need four ranks per group, not an order, so a histogram of each group's
    values (about 16 per bucket, at most 4096 buckets between its min and max) names the
    buckets holding those ranks, only their values are copied out, and the ranks are selected
    among them. No sort and no pass moving every value; a group whose values crowd one bucket
    is selected from whole, still in linear time.
    """
    count = np.zeros(groups, dtype=np.int64)
    total = np.zeros(groups, dtype=np.int64)
    ftotal = np.zeros(groups, dtype=np.float64)
    low = np.full(groups, np.iinfo(np.int64).max, dtype=np.int64)
    high = np.full(groups, np.iinfo(np.int64).min, dtype=np.int64)
    for i in range(codes.shape[0]):
        c = codes[i]
        v = _value(later, earlier, i)
        low[c] = min(low[c], v)
        high[c] = max(high[c], v)
        count[c] += 1
        total[c] += v
        ftotal[c] += v
    return count, total, ftotal, low, high


@_jit
def group_layout(
    count: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group: where its buckets start in one histogram, and the base and shift that map
    a value to its bucket (``(value - min) >> shift``)."""
    groups = count.shape[0]
    start = np.zeros(groups + 1, dtype=np.int64)
    shift = np.zeros(groups, dtype=np.uint64)
    base = np.zeros(groups, dtype=np.uint64)
    for c in range(groups):
        bits = 0
        while bits < _BUCKET_BITS and (np.int64(16) << bits) < count[c]:
            bits += 1
        span = np.uint64(high[c]) - np.uint64(low[c]) if count[c] else _ZERO
        width = 0
        while width < 64 and (span >> np.uint64(width)) > _ZERO:
            width += 1
        shift[c] = np.uint64(max(width - bits, 0))
        base[c] = np.uint64(low[c]) if count[c] else _ZERO
        start[c + 1] = start[c] + (np.int64(1) << bits)
    return start, shift, base


@_inline
def _bucket(start: np.ndarray, shift: np.ndarray, base: np.ndarray, c: int, v: np.int64) -> int:
    return start[c] + np.int64((np.uint64(v) - base[c]) >> shift[c])


@_jit
def group_histogram(
    codes: np.ndarray,
    later: np.ndarray,
    earlier: np.ndarray,
    start: np.ndarray,
    shift: np.ndarray,
    base: np.ndarray,
) -> np.ndarray:
    histogram = np.zeros(start[-1], dtype=np.int64)
    for i in range(codes.shape[0]):
        c = codes[i]
        histogram[_bucket(start, shift, base, c, _value(later, earlier, i))] += 1
    return histogram


@_jit
def group_choose(
    count: np.ndarray, histogram: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ranks wanted per group (the two around ``(m - 1) * q`` for the median and p95:
    linear interpolation, as Polars and pandas), the chosen buckets (each numbered, else
    -1) and where each chosen bucket's values go (``place[t]:place[t + 1]``)."""
    groups = count.shape[0]
    ranks = np.full((groups, 4), -1, dtype=np.int64)
    chosen = np.full(histogram.shape[0], -1, dtype=np.int64)
    place = np.zeros(4 * groups + 1, dtype=np.int64)
    chosen_count = 0
    for c in range(groups):
        m = count[c]
        if m == 0:
            continue
        for q in range(2):
            at = (m - 1) * (0.5 if q == 0 else 0.95)
            ranks[c, 2 * q] = int(np.floor(at))
            ranks[c, 2 * q + 1] = min(int(np.floor(at)) + 1, m - 1)
        seen = 0
        for b in range(start[c], start[c + 1]):
            inside = histogram[b]
            for r in range(4):
                if seen <= ranks[c, r] < seen + inside and chosen[b] < 0:
                    chosen[b] = chosen_count
                    place[chosen_count + 1] = place[chosen_count] + inside
                    chosen_count += 1
            seen += inside
    return ranks, chosen, place[: chosen_count + 1].copy()


@_jit
def group_collect(
    codes: np.ndarray,
    later: np.ndarray,
    earlier: np.ndarray,
    start: np.ndarray,
    shift: np.ndarray,
    base: np.ndarray,
    chosen: np.ndarray,
    fill: np.ndarray,
    picked: np.ndarray,
) -> None:
    """Copy the values of the chosen buckets to ``picked``, bucket ``t``'s from ``fill[t]``."""
    for i in range(codes.shape[0]):
        c = codes[i]
        v = _value(later, earlier, i)
        t = chosen[_bucket(start, shift, base, c, v)]
        if t >= 0:
            picked[fill[t]] = v
            fill[t] += 1


@_jit
def group_select(
    count: np.ndarray,
    histogram: np.ndarray,
    start: np.ndarray,
    ranks: np.ndarray,
    chosen: np.ndarray,
    place: np.ndarray,
    picked: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Median and p95 per group from the picked values (reordered in place)."""
    groups = count.shape[0]
    median = np.full(groups, np.nan)
    p95 = np.full(groups, np.nan)
    for c in range(groups):
        m = count[c]
        if m == 0:
            continue
        found = np.zeros(4, dtype=np.float64)
        seen = 0
        for b in range(start[c], start[c + 1]):
            inside = histogram[b]
            for r in range(4):
                if seen <= ranks[c, r] < seen + inside:
                    t = chosen[b]
                    k = place[t] + ranks[c, r] - seen
                    _select(picked, place[t], place[t + 1], k)
                    found[r] = float(picked[k])
            seen += inside
        for q in range(2):
            at = (m - 1) * (0.5 if q == 0 else 0.95)
            fraction = at - np.floor(at)
            value = found[2 * q]
            if fraction > 0.0:
                value = value + (found[2 * q + 1] - value) * fraction
            if q == 0:
                median[c] = value
            else:
                p95[c] = value
    return median, p95


@_jit
def group_squares(
    codes: np.ndarray, later: np.ndarray, earlier: np.ndarray, mean: np.ndarray
) -> np.ndarray:
    """Per group, the sum of squared deviations from its ``mean`` (for a sample stdev)."""
    squares = np.zeros(mean.shape[0], dtype=np.float64)
    for i in range(codes.shape[0]):
        d = _value(later, earlier, i) - mean[codes[i]]
        squares[codes[i]] += d * d
    return squares
