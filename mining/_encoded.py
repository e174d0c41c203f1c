"""Activity instances encoded once as NumPy arrays, and the figures pm4py also computes.

Why a separate engine: a plain SQL translation of a directly-follows graph is only about twice
as fast as pm4py's Polars path. The gain comes from doing the expensive work once per log —
order the instances by case, then ``(end, seq)``; turn activities into small integers; find
case boundaries — after which the DFG is one ``bincount``, variants one hash per case and
durations one ``reduceat``. Every figure here is checked against pm4py's pandas path.

Orders, as pm4py's pandas path uses them (see ``docs/mining.md``):

* variants, start and end activities, rework and case durations follow a case's instances in
  ``(end, seq)`` order — pm4py's ``time:timestamp`` with row order breaking ties;
* the directly-follows graphs follow ``(start, end, seq)``, because pm4py sorts by
  ``start_timestamp`` then ``time:timestamp`` before pairing consecutive rows.

Both orders coincide unless a case has overlapping instances; then the second is computed.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import TypeVar

import numpy as np
import polars as pl
import pyarrow as pa

#: Columns an instance frame must have, with the dtypes the engine works on.
INSTANCE_SCHEMA: dict[str, pl.DataType] = {
    "case_id": pl.String(),
    "activity": pl.String(),
    "start_ts": pl.Datetime("us"),
    "ts": pl.Datetime("us"),
    "seq": pl.Int64(),
}

_MICROS = 1_000_000.0
# Below this many rows a kernel runs on one thread: a second one costs more than it saves.
_SPLIT = 65_536
_T = TypeVar("_T")
_POOLS: dict[int, ThreadPoolExecutor] = {}
# A dense K x K counting array is fastest up to this many activities; beyond, np.unique.
_DENSE_LIMIT = 2048


@dataclasses.dataclass(frozen=True, eq=False)
class Encoded:
    """A log's activity instances as arrays, rows ordered by case then ``(end, seq)``.

    ``bounds[i]:bounds[i + 1]`` are the rows of case ``i``; ``act`` indexes ``activities``.
    """

    #: The case id column in the frame's row order; :attr:`case_ids` are read off it on
    #: first use (start and end activities never need them).
    case_column: pl.Series
    bounds: np.ndarray
    start: np.ndarray
    end: np.ndarray
    #: The activity column in the frame's row order, and the frame row of each encoded row
    #: (``None``: the same order). Activities are coded on first use: start and end
    #: activities and case durations never need the codes.
    activity_column: pl.Series
    source_rows: np.ndarray | None = None

    @property
    def cases(self) -> int:
        return len(self.bounds) - 1

    @functools.cached_property
    def case_ids(self) -> pl.Series:
        """Per case, its id."""
        heads = self.bounds[:-1]
        if self.source_rows is not None:
            heads = self.source_rows[heads]
        return self.case_column.gather(heads)

    @property
    def rows(self) -> int:
        return len(self.start)

    @functools.cached_property
    def _coded(self) -> tuple[np.ndarray, tuple[str, ...]]:
        codes, labels = _codes(self.activity_column)
        if self.source_rows is not None:
            codes = codes[self.source_rows]
        return codes, labels

    @property
    def act(self) -> np.ndarray:
        """Per row, its activity's index in :attr:`activities`."""
        return self._coded[0]

    @property
    def activities(self) -> tuple[str, ...]:
        return self._coded[1]

    def activity_at(self, rows: np.ndarray) -> pl.Series:
        """The activity labels of encoded ``rows``, without coding the whole column."""
        if self.source_rows is not None:
            rows = self.source_rows[rows]
        return self.activity_column.gather(rows)

    @functools.cached_property
    def case_of_row(self) -> np.ndarray:
        """Per row, the index of its case."""
        return np.repeat(np.arange(self.cases, dtype=np.int64), np.diff(self.bounds))

    @functools.cached_property
    def same_case(self) -> np.ndarray:
        """Per row but the first: is it in the same case as the row before?"""
        same = np.ones(max(self.rows - 1, 0), dtype=bool)
        same[self.bounds[1:-1] - 1] = False
        return same

    @functools.cached_property
    def dfg_order(self) -> np.ndarray | None:
        """Row permutation into ``(case, start, end, seq)`` order, or ``None`` if it is the same.

        Rows are already by case then ``(end, seq)``; when ``start`` never decreases within a
        case the two orders agree, which is the usual case and costs one comparison pass.
        """
        if self.rows < 2:
            return None
        back = np.flatnonzero(self.same_case & (self.start[1:] < self.start[:-1]))
        if len(back) == 0:
            return None
        # Reorder only the cases where a start goes back; a stable sort by (case, start)
        # keeps their (end, seq) order among equal starts.
        cases = np.unique(np.searchsorted(self.bounds, back + 1, side="right") - 1)
        lengths = self.bounds[cases + 1] - self.bounds[cases]
        offsets = np.r_[0, np.cumsum(lengths)]
        rows = np.arange(int(offsets[-1])) + np.repeat(self.bounds[cases] - offsets[:-1], lengths)
        local = np.repeat(np.arange(len(cases), dtype=np.int64), lengths)
        start = self.start[rows]
        low = int(start.min())
        bits = (int(start.max()) - low).bit_length()
        if bits + max(len(cases) - 1, 1).bit_length() <= 62:
            within = np.argsort((local << bits) | (start - low), kind="stable")
        else:
            within = np.lexsort((np.arange(len(rows)), start, local))
        order = np.arange(self.rows)
        order[rows] = rows[within]
        return order


def encode(instances: pl.DataFrame) -> Encoded:
    """Encode an instance frame (columns of :data:`INSTANCE_SCHEMA`).

    A frame already grouped by case in ``(ts, seq)`` order (files and Baton's store usually
    are) is used as it is, which saves the most expensive step: one compiled pass over the
    case ids finds the case heads and checks the order, comparing ids of up to 12 bytes
    exactly through their Arrow string views and longer ones (or any column with nulls)
    through a 64-bit hash (two ids of one log sharing one are as likely as ~1e-9 at a
    million cases). Otherwise the frame is sorted by case hash then ``(ts, seq)``, an order
    no figure depends on.
    """
    kernels = _compiled()
    case = instances.get_column("case_id").cast(pl.String)
    start = instances.get_column("start_ts").dt.epoch("us").to_numpy()
    end = instances.get_column("ts").dt.epoch("us").to_numpy()
    seq_column = instances.get_column("seq").cast(pl.Int64)
    # A frame's own row numbers (and any filter of them) carry Polars' sorted flag.
    check_seq = not (seq_column.flags["SORTED_ASC"] and not seq_column.null_count())
    seq = seq_column.to_numpy()
    keys = _string_keys(case)
    hashed = None
    status, bounds = kernels.LONG, np.zeros(0, np.int64)
    if keys is not None:
        status, bounds = _scan(keys, end, seq, check_seq)
    if status == kernels.LONG:
        hashed = _hash_keys(case)
        status, bounds = _scan(hashed, end, seq, check_seq)
    order = None
    if status != kernels.OK:
        case_hash = (_hash_keys(case) if hashed is None else hashed)[:, 0]
        order = (
            pl.DataFrame({"h": case_hash, "end": end, "seq": seq})
            .select(pl.arg_sort_by(["h", "end", "seq"], maintain_order=True))
            .to_series()
            .to_numpy()
        )
        case_hash, start, end = case_hash[order], start[order], end[order]
        bounds = np.append(np.flatnonzero(_heads(case_hash)), len(end)).astype(np.int64)
    return Encoded(
        case_column=case,
        bounds=bounds,
        start=start,
        end=end,
        activity_column=instances.get_column("activity").cast(pl.String),
        source_rows=order,
    )


def _scan(
    keys: np.ndarray, end: np.ndarray, seq: np.ndarray, check_seq: bool
) -> tuple[int, np.ndarray]:
    """``(status, bounds)``: are the rows grouped by case key in ``(end, seq)`` order, and
    where do cases start (see :func:`mining._kernels.scan_cases`)?

    A million rows are scanned as two halves on both cores (the scan waits on memory more
    than it computes: 2.2 ms on one core, 1.4 on two); the halves are joined here, where a
    run may continue across them. Case keys that neither rise nor fall go through a table.
    """
    kernels = _compiled()
    n = len(end)

    def part(low: int, high: int) -> tuple[int, np.ndarray, bool, bool]:
        scanned: tuple[int, np.ndarray, bool, bool] = kernels.scan_cases(
            keys[low:high], end[low:high], seq[low:high], check_seq
        )
        return scanned

    if n < _SPLIT:
        status, bounds, rising, falling = part(0, n)
        if status != kernels.OK:
            return status, bounds
        heads = bounds[:-1]
    else:
        half = n // 2
        (first, a, rising, falling), (second, b, rise_b, fall_b) = _both_halves(part, n)
        if kernels.LONG in (first, second):
            return kernels.LONG, a
        if kernels.NO in (first, second):
            return kernels.NO, a
        later = b[:-1] + half
        if (keys[half] == keys[half - 1]).all():  # a case runs on across the halves
            tie = end[half] == end[half - 1] and check_seq and seq[half] < seq[half - 1]
            if end[half] < end[half - 1] or tie:
                return kernels.NO, a
            later = later[1:]
        if len(later):
            up = keys[later[0]].tobytes() > keys[a[-2]].tobytes()  # as the kernel orders
            rising, falling = rising and rise_b and up, falling and fall_b and not up
        heads = np.concatenate([a[:-1], later])
        bounds = np.append(heads, n)
    if not (rising or falling) and not _distinct_at(keys, heads):
        return kernels.NO, bounds  # a case seen again later: not grouped
    return kernels.OK, bounds


def _both_halves(call: Callable[[int, int], _T], n: int) -> tuple[_T, _T]:
    """``call(0, n // 2)`` on a second thread and ``call(n // 2, n)`` on this one: the
    kernels release the GIL, and the machines this runs on have two cores or more."""
    future = _pool().submit(call, 0, n // 2)
    second = call(n // 2, n)
    return future.result(), second


def _pool() -> ThreadPoolExecutor:
    """One worker thread per process: a forked child gets its own (it inherits the parent's
    executor without its thread, and would wait on it forever)."""
    pid = os.getpid()
    if pid not in _POOLS:
        _POOLS[pid] = ThreadPoolExecutor(1, thread_name_prefix="baton-kernels")
    return _POOLS[pid]


def _compiled() -> ModuleType:
    """The compiled kernels, imported on first use: importing numba takes ~0.4 s, which
    commands that never mine (``baton --help``, the collector) should not pay."""
    from mining import _kernels

    return _kernels


def _string_keys(values: pl.Series) -> np.ndarray | None:
    """Each row's Arrow string view as two 64-bit words (no copy), or ``None``.

    ``None`` when the column has nulls (a null's view is undefined) or is not stored as
    views in one chunk. A view holds a string of up to 12 bytes whole; kernels given these
    keys report a longer one, and the caller then falls back to :func:`_hash_keys`.
    """
    if values.null_count():
        return None
    array = values.rechunk().to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(array, pa.ChunkedArray):
        if array.num_chunks != 1:
            return None
        array = array.chunk(0)
    if array.type != pa.string_view():
        return None
    if len(array) == 0:
        return np.zeros((0, 2), dtype=np.uint64)
    views = np.frombuffer(array.buffers()[1], dtype=np.uint64).reshape(-1, 2)
    return views[array.offset : array.offset + len(array)]


def _hash_keys(values: pl.Series) -> np.ndarray:
    """A 64-bit hash per row, as one-word keys for the kernels."""
    return values.hash(seed=0).to_numpy().reshape(-1, 1)


def _heads(case_hash: np.ndarray) -> np.ndarray:
    head = np.empty(len(case_hash), dtype=bool)
    head[:1] = True
    np.not_equal(case_hash[1:], case_hash[:-1], out=head[1:])
    return head


def _code_keys(keys: np.ndarray, size: int = 1024) -> tuple[np.ndarray, np.ndarray] | None:
    """Dense codes for ``keys`` in order of first appearance and each code's first row, or
    ``None`` when a key is a long string's view (code hashes instead). ``size``: the first
    table's slots (a power of two), for callers that expect many distinct keys.

    Many rows are coded as two halves on both cores; the second half's codes are then
    renumbered into the first's (a few labels to look up, one pass to rewrite).
    """
    codes = np.empty(len(keys), dtype=np.int64)
    if len(keys) < _SPLIT:
        firsts = _code_part(keys, codes, size)
        return None if firsts is None else (codes, firsts)
    parts = _both_halves(
        lambda low, high: _code_part(keys[low:high], codes[low:high], size), len(keys)
    )
    if parts[0] is None or parts[1] is None:
        return None
    half = len(keys) // 2
    firsts = parts[0].tolist()
    known = {keys[row].tobytes(): code for code, row in enumerate(firsts)}
    renumber = np.empty(len(parts[1]), dtype=np.int64)
    for code, row in enumerate((parts[1] + half).tolist()):
        renumber[code] = known.setdefault(keys[row].tobytes(), len(firsts))
        if renumber[code] == len(firsts):
            firsts.append(row)
    if not np.array_equal(renumber, np.arange(len(renumber))):
        _compiled().renumber(codes[half:], renumber)
    return codes, np.array(firsts, dtype=np.int64)


def _code_part(keys: np.ndarray, codes: np.ndarray, size: int) -> np.ndarray | None:
    kernels = _compiled()
    while True:
        status, firsts = kernels.code_rows(keys, codes, size)
        if status == kernels.OK:
            return np.asarray(firsts)
        if status == kernels.LONG:
            return None
        size *= 8  # more distinct keys than half the table: start again with a larger one


def _distinct_at(keys: np.ndarray, rows: np.ndarray) -> bool:
    """Are the keys at ``rows`` pairwise distinct? Coded on one thread with a table sized
    for all of them (they usually are: a case's heads), exact on whole keys, so no hash
    collision passes for a case; splitting would renumber every key in Python."""
    size = 1024
    while size < 2 * len(rows):
        size *= 2
    picked = np.take(keys, rows, axis=0)  # 0.13 ms for 57k keys; ``keys[rows]``: 5 ms
    firsts = _code_part(picked, np.empty(len(rows), dtype=np.int64), size)
    return firsts is not None and len(firsts) == len(rows)


def _count_keys(keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct keys at ``rows`` (each as its first row, in order of first appearance)
    and their counts, or ``None`` when a key is a long string's view: the rows' keys coded
    (:func:`_code_keys`), then counted."""
    coded = _code_keys(np.take(keys, rows, axis=0))  # not ``keys[rows]``: 40x slower
    if coded is None:
        return None
    codes, firsts = coded
    return rows[firsts], np.bincount(codes, minlength=len(firsts))


def _code(values: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """Dense integer codes for a string column and its labels in order of first appearance
    (nulls read as ``""``): exact through the string views where every value has at most 12
    bytes, else through a 64-bit hash per value (two labels sharing one are as likely as
    ~1e-14 for a few hundred activities)."""
    if values.null_count():
        values = values.fill_null("")
    keys = _string_keys(values)
    coded = _code_keys(keys) if keys is not None else None
    if coded is None:
        coded = _code_keys(_hash_keys(values))
        assert coded is not None  # hashes are one word: never a long view
    codes, firsts = coded
    return codes, values.gather(firsts)


def _codes(values: pl.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    codes, labels = _code(values)
    return codes, tuple(labels.to_list())


# --- directly-follows ----------------------------------------------------------------


def _pairs(enc: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive pairs within cases in DFG order: (source code, target code, wait µs)."""
    order = enc.dfg_order
    act, start, end = enc.act, enc.start, enc.end
    if order is not None:
        act, start, end = act[order], start[order], end[order]
    same = enc.same_case
    return act[:-1][same], act[1:][same], (start[1:] - end[:-1])[same]


def _edge_frame(
    enc: Encoded, keys: np.ndarray, columns: Mapping[str, np.ndarray | pl.Series]
) -> pl.DataFrame:
    k = len(enc.activities)
    labels = pl.Series(enc.activities, dtype=pl.String)
    return pl.DataFrame(
        {
            "source": labels.gather(keys // k),
            "target": labels.gather(keys % k),
            **columns,
        }
    )


def dfg(enc: Encoded) -> pl.DataFrame:
    """``source, target, frequency, mean_wait_s``, most frequent first."""
    src, dst, wait = _pairs(enc)
    k = len(enc.activities)
    key = src * k + dst
    if k <= _DENSE_LIMIT:
        counts = np.bincount(key, minlength=k * k)
        sums = np.bincount(key, weights=wait, minlength=k * k)
        keys = np.flatnonzero(counts)
        freq, total = counts[keys], sums[keys]
    else:
        keys, inverse, freq = np.unique(key, return_inverse=True, return_counts=True)
        total = np.bincount(inverse, weights=wait)
    columns = {"frequency": freq.astype(np.int64), "mean_wait_s": total / freq / _MICROS}
    frame = _edge_frame(enc, keys, columns)
    return frame.sort(["frequency", "source", "target"], descending=[True, False, False])


def performance_dfg(enc: Encoded) -> pl.DataFrame:
    """Per edge a→b the waiting time start(b) - end(a) in seconds: every pm4py aggregate.

    ``stdev_s`` is the sample standard deviation (pandas' ``std``), null for a single
    observation, as in pm4py; ``p95_s`` is Baton's addition (linear interpolation).
    """
    src, dst, wait = _pairs(enc)
    k = len(enc.activities)
    keys, stats = _group_stats(src * k + dst, wait)
    out = _edge_frame(enc, keys, {"frequency": stats.pop("count"), **stats})
    return out.select(
        "source",
        "target",
        "frequency",
        "mean_s",
        "median_s",
        "p95_s",
        "min_s",
        "max_s",
        "total_s",
        "stdev_s",
    ).sort(["frequency", "source", "target"], descending=[True, False, False])


def _group_stats(
    keys: np.ndarray, micros: np.ndarray, *, stdev: bool = True, earlier: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray | pl.Series]]:
    """Count, mean, median, p95, min, max, total and (``stdev``) sample stdev (s) per key of
    the values ``micros`` (``micros - earlier`` if given), keys ascending.

    Compiled passes (:func:`_group_passes`): they find the median and p95 without ordering
    any group. NumPy's sort of packed ``(key, value)`` pairs was the fastest way on CPUs
    where its vectorised sort runs and three times slower than a Polars group-by where it
    does not (AMD EPYC: 58 ms per million values); the passes took half the group-by's time
    there on one core. Keys spread wider than the rows are first coded densely. Totals
    are exact integer sums unless a million values of a century each could overflow them.
    """
    if len(keys) == 0:
        empty = np.zeros(0)
        return keys.astype(np.int64), {
            "count": np.zeros(0, np.int64),
            **{c: empty for c in ("mean_s", "median_s", "p95_s", "min_s", "max_s", "total_s")},
            **({"stdev_s": pl.Series(empty)} if stdev else {}),
        }
    keys = keys.astype(np.int64, copy=False)
    groups = int(keys.max()) + 1
    named = None  # per group, its key, when groups are codes of the keys
    if int(keys.min()) < 0 or groups > max(len(keys), 1 << 16):
        coded = _code_keys(keys.view(np.uint64).reshape(-1, 1))
        assert coded is not None  # one-word keys are never long views
        named = keys[coded[1]]
        keys, groups = coded[0], len(coded[1])
    micros = micros.astype(np.int64, copy=False)
    earlier = np.zeros(0, np.int64) if earlier is None else earlier.astype(np.int64, copy=False)
    count, total, ftotal, low, high, median, p95, spread = _group_passes(
        keys, micros, earlier, groups, stdev
    )
    present = np.flatnonzero(count)
    if named is not None:
        present = present[np.argsort(named[present])]
    count, low, high = count[present], low[present], high[present]
    peak = max(abs(int(low.min())), abs(int(high.max())), 1)
    exact = peak.bit_length() + len(keys).bit_length() < 63
    totals = (total[present] if exact else ftotal[present]) / _MICROS
    stats: dict[str, np.ndarray | pl.Series] = {
        "count": count,
        "mean_s": totals / count,
        "median_s": median[present] / _MICROS,
        "p95_s": p95[present] / _MICROS,
        "min_s": low / _MICROS,
        "max_s": high / _MICROS,
        "total_s": totals,
    }
    if stdev:  # null for a single observation, as pandas' std is NaN there
        stats["stdev_s"] = pl.Series(spread[present] / _MICROS, nan_to_null=True)
    return (present if named is None else named[present]), stats


def _group_passes(
    codes: np.ndarray, later: np.ndarray, earlier: np.ndarray, groups: int, stdev: bool
) -> tuple[np.ndarray, ...]:
    """The kernels' passes of :func:`_group_stats` (see :func:`mining._kernels.group_sums`),
    each pass over many rows as two halves on both cores; the halves' sums, extremes and
    histograms are added, and the second half copies its values after the first's."""
    kernels = _compiled()
    n = len(codes)

    def halves(call: Callable[[int, int], _T]) -> tuple[_T, ...]:
        return _both_halves(call, n) if n >= _SPLIT else (call(0, n),)

    def rows(a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return codes[a:b], later[a:b], earlier[a:b]  # an empty ``earlier`` stays empty

    sums = halves(lambda a, b: kernels.group_sums(*rows(a, b), groups))
    count, total, ftotal = (sum(part[i] for part in sums) for i in range(3))
    low = np.minimum.reduce([part[3] for part in sums])
    high = np.maximum.reduce([part[4] for part in sums])
    start, shift, base = kernels.group_layout(count, low, high)
    counted = halves(lambda a, b: kernels.group_histogram(*rows(a, b), start, shift, base))
    histogram = sum(counted)
    ranks, chosen, place = kernels.group_choose(count, histogram, start)
    picked = np.empty(place[-1], dtype=np.int64)
    fills = [place[:-1].copy()]
    if len(counted) == 2:  # the second half's values of a bucket follow the first's
        bucket = np.empty(len(place) - 1, dtype=np.int64)
        where = np.flatnonzero(chosen >= 0)
        bucket[chosen[where]] = where
        fills.append(place[:-1] + counted[0][bucket])
    halves(
        lambda a, b: kernels.group_collect(
            *rows(a, b), start, shift, base, chosen, fills[a > 0], picked
        )
    )
    median, p95 = kernels.group_select(count, histogram, start, ranks, chosen, place, picked)
    spread = np.full(groups, np.nan)
    if stdev:
        mean = ftotal / np.maximum(count, 1)
        squares = sum(halves(lambda a, b: kernels.group_squares(*rows(a, b), mean)))
        several = count > 1
        spread[several] = np.sqrt(squares[several] / (count[several] - 1))
    return count, total, ftotal, low, high, median, p95, spread


# --- per case ------------------------------------------------------------------------


def case_durations(enc: Encoded) -> pl.DataFrame:
    """Per case: first start, last end, and pm4py's case duration in seconds.

    ``duration_s`` is what pm4py's ``get_all_case_durations`` measures: last completion minus
    first completion (pm4py ignores ``start_timestamp`` there, in every path). ``span_s`` is
    ``end_ts - start_ts``, which also counts the first instance's service time; both are
    equal on logs with one timestamp per step.
    """
    if enc.cases == 0:
        return pl.DataFrame(
            schema={
                "case_id": pl.String,
                "start_ts": pl.Datetime("us"),
                "end_ts": pl.Datetime("us"),
                "duration_s": pl.Float64,
                "span_s": pl.Float64,
            },
        )
    heads = enc.bounds[:-1]
    first = np.minimum.reduceat(enc.start, heads)
    # Rows are in (end, seq) order within a case: its first row holds the first completion.
    first_end = enc.end[heads]
    last = np.maximum.reduceat(enc.end, heads)
    return pl.DataFrame(
        {
            "case_id": enc.case_ids,
            "start_ts": pl.Series(first).cast(pl.Datetime("us")),
            "end_ts": pl.Series(last).cast(pl.Datetime("us")),
            "duration_s": (last - first_end) / _MICROS,
            "span_s": (last - first) / _MICROS,
        }
    )


def _count_at(enc: Encoded, rows: np.ndarray) -> pl.DataFrame:
    """Cases per activity at ``rows``: codes counted when the log has them already, else the
    keys at ``rows`` alone counted (coding the whole column would cost more).

    The few labels and counts are ordered in Python: a label read back from its view and
    a sort of a few dozen pairs cost microseconds, where a Polars gather on the column and
    a frame sort cost 0.4 ms each. Python orders strings by code point, which is the UTF-8
    byte order Polars sorts by.
    """
    if "_coded" in enc.__dict__:
        per_code = np.bincount(enc.act[rows], minlength=len(enc.activities))
        present = np.flatnonzero(per_code)
        labels = [enc.activities[i] for i in present.tolist()]
        counts = per_code[present].tolist()
    else:
        if enc.source_rows is not None:
            rows = enc.source_rows[rows]
        rows = rows.astype(np.int64, copy=False)
        keys = _string_keys(enc.activity_column)
        counted = _count_keys(keys, rows) if keys is not None else None
        if counted is None or keys is None:
            codes, gathered = _code(enc.activity_column.gather(rows))
            labels = gathered.to_list()
            counts = np.bincount(codes, minlength=len(labels)).tolist()
        else:
            labels = [_view_text(keys[row]) for row in counted[0].tolist()]
            counts = counted[1].tolist()
    pairs = sorted(zip(counts, labels, strict=True), key=lambda pair: (-pair[0], pair[1]))
    return pl.DataFrame(
        {"activity": [label for _, label in pairs], "cases": [count for count, _ in pairs]},
        schema={"activity": pl.String, "cases": pl.Int64},
    )


def _view_text(view: np.ndarray) -> str:
    """The string an inline view holds: its length, then its bytes after the length word."""
    raw = view.tobytes()
    return raw[4 : 4 + int.from_bytes(raw[:4], "little")].decode()


def start_activities(enc: Encoded) -> pl.DataFrame:
    """``activity, cases``: how many cases begin with each activity."""
    return _count_at(enc, enc.bounds[:-1])


def end_activities(enc: Encoded) -> pl.DataFrame:
    """``activity, cases``: how many cases end with each activity."""
    return _count_at(enc, enc.bounds[1:] - 1)


def _case_hashes(enc: Encoded) -> np.ndarray:
    """A 64-bit polynomial hash of each case's activity sequence, plus its length."""
    heads = enc.bounds[:-1]
    position = np.arange(enc.rows, dtype=np.int64) - heads[enc.case_of_row]
    longest = int(position.max()) + 1 if enc.rows else 1
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(longest, 1_000_003, dtype=np.uint64), dtype=np.uint64)
        terms = (enc.act.astype(np.uint64) + np.uint64(1)) * powers[position]
        hashes = np.add.reduceat(terms, heads) if enc.rows else np.zeros(0, np.uint64)
        lengths = np.diff(enc.bounds).astype(np.uint64)
        return hashes ^ (lengths * np.uint64(0x9E3779B97F4A7C15))


def _distinct(
    values: np.ndarray, *, inverse: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique`` with index, counts and inverse, by one stable sort (several times faster)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(values)])
    back = np.empty(len(values) if inverse else 0, dtype=np.int64)
    if inverse:
        back[order] = np.repeat(np.arange(len(starts)), counts)
    return ordered[starts], order[starts], counts, back


def variants(enc: Encoded) -> pl.DataFrame:
    """``variant`` (activities joined by ``,``), ``activities`` (list), ``cases``, ``share``.

    Most frequent first; ties by variant text, so the order never depends on a hash.
    """
    if enc.cases == 0:
        return pl.DataFrame(
            schema={
                "variant": pl.String,
                "activities": pl.List(pl.String),
                "cases": pl.Int64,
                "share": pl.Float64,
            }
        )
    _, first_case, counts, _ = _distinct(_case_hashes(enc), inverse=False)
    lengths = np.diff(enc.bounds)[first_case]
    starts = enc.bounds[first_case]
    offsets = np.r_[0, np.cumsum(lengths)]
    rows = np.arange(int(offsets[-1])) + np.repeat(starts - offsets[:-1], lengths)
    codes = enc.act[rows]
    # Most cases first, ties by variant text, sorted without building the texts: each step is
    # a token, ``label + ","`` or, for a variant's last step, ``label``; tokens ranked as text
    # compare element by element exactly as the joined texts do (labels without commas).
    k = len(enc.activities)
    tokens = [label + "," for label in enc.activities] + list(enc.activities)
    if 2 * k < 255:
        rank = np.argsort(np.argsort(tokens, kind="stable")).astype(np.uint8) + 1
        position = rows - np.repeat(starts, lengths)
        is_last = position == np.repeat(lengths, lengths) - 1
        packed = np.zeros((len(counts), int(lengths.max())), dtype=np.uint8)
        packed[np.repeat(np.arange(len(counts)), lengths), position] = rank[codes + k * is_last]
        by_text = np.argsort(packed.view(f"S{packed.shape[1]}").ravel(), kind="stable")
    else:
        texts = pl.Series(enc.activities, dtype=pl.String).gather(codes)
        lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), texts.to_arrow())
        by_text = pl.Series(lists).list.join(",").arg_sort().to_numpy()
    order = by_text[np.argsort(-counts[by_text], kind="stable")]
    # The chosen variants' rows, in the final order, as one list column.
    lengths, starts, counts = lengths[order], starts[order], counts[order]
    offsets = np.r_[0, np.cumsum(lengths)]
    rows = np.arange(int(offsets[-1])) + np.repeat(starts - offsets[:-1], lengths)
    labels = pl.Series(enc.activities, dtype=pl.String).gather(enc.act[rows])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), labels.to_arrow())
    activities = pl.Series("activities", lists, dtype=pl.List(pl.String))
    return pl.DataFrame({"activities": activities, "cases": counts.astype(np.int64)}).select(
        pl.col("activities").list.join(",").alias("variant"),
        "activities",
        "cases",
        (pl.col("cases") / enc.cases).alias("share"),
    )


def case_variant_ids(enc: Encoded) -> np.ndarray:
    """Per case, the index of its variant among the case hashes (for variant filters)."""
    return _distinct(_case_hashes(enc))[3]


def case_sequences(enc: Encoded) -> list[str]:
    """Per case, its variant text; used by the variant filter on small selections."""
    labels = enc.activities
    return [
        ",".join(labels[c] for c in enc.act[enc.bounds[i] : enc.bounds[i + 1]])
        for i in range(enc.cases)
    ]


def rework(enc: Encoded) -> pl.DataFrame:
    """Per activity: ``cases`` that ran it, ``cases_with_rework`` (ran it more than once:
    pm4py's ``get_rework_cases_per_activity``), ``rework_rate``, ``executions`` and
    ``extra_executions`` (beyond the first per case), most extra executions first.

    The columns of Baton's item-based ``rework`` figure, which this equals on logs without
    retries (each instance its own item), e.g. an analyst's frame.
    """
    k = len(enc.activities)
    key = enc.case_of_row * k + enc.act
    if enc.cases * k <= 64_000_000:
        per_pair = np.bincount(key, minlength=enc.cases * k)
        present = np.flatnonzero(per_pair)
        runs = per_pair[present]
    else:
        counted = pl.Series("key", key).value_counts(name="n")
        present = counted.get_column("key").to_numpy()
        runs = counted.get_column("n").to_numpy()
    act = present % k
    cases = np.bincount(act, minlength=k)
    reworked = np.bincount(act[runs > 1], minlength=k)
    executions = np.bincount(act, weights=runs, minlength=k).astype(np.int64)
    keep = np.flatnonzero(cases)
    frame = pl.DataFrame(
        {
            "activity": pl.Series(enc.activities, dtype=pl.String).gather(keep),
            "cases": cases[keep].astype(np.int64),
            "cases_with_rework": reworked[keep].astype(np.int64),
            "rework_rate": reworked[keep] / cases[keep],
            "executions": executions[keep],
            "extra_executions": executions[keep] - cases[keep],
        }
    )
    return frame.sort(["extra_executions", "activity"], descending=[True, False])


# --- per activity --------------------------------------------------------------------


def _per_activity(
    activities: tuple[str, ...],
    codes: np.ndarray,
    micros: np.ndarray,
    earlier: np.ndarray | None = None,
) -> pl.DataFrame:
    keys, stats = _group_stats(codes, micros, stdev=False, earlier=earlier)
    labels = pl.Series(activities, dtype=pl.String).gather(keys)
    frame = pl.DataFrame({"activity": labels, **stats})
    return frame.select(
        "activity", "count", "mean_s", "median_s", "p95_s", "min_s", "max_s", "total_s"
    ).sort("activity")


def service_times(enc: Encoded) -> pl.DataFrame:
    """Per activity, service time end - start in seconds (pm4py's ``get_service_time``)."""
    return _per_activity(enc.activities, enc.act, enc.end, enc.start)


def service_times_of(instances: pl.DataFrame) -> pl.DataFrame:
    """:func:`service_times` straight from an instance frame, in any row order.

    Service time is per instance, so it needs no case order: a log not yet encoded skips
    :func:`encode` (hashing the cases and checking their order) for this figure alone.
    """
    codes, labels = _codes(instances.get_column("activity").cast(pl.String))
    start = instances.get_column("start_ts").dt.epoch("us").to_numpy()
    end = instances.get_column("ts").dt.epoch("us").to_numpy()
    return _per_activity(labels, codes, end, start)


def waiting_times(enc: Encoded) -> pl.DataFrame:
    """Per activity, the wait before it: its start - the previous instance's end in the case.

    It is the performance DFG's waiting time grouped by target, so the two always agree;
    a case's first activity has no wait before it and is not counted.
    """
    _, dst, wait = _pairs(enc)
    return _per_activity(enc.activities, dst, wait)
