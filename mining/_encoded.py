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

    Cases are told apart by a 64-bit hash of their id (two ids of one log sharing a hash are
    as likely as ~1e-9 at a million cases). The frame is sorted by case then ``(ts, seq)``
    only if it is not already so grouped (files and Baton's store usually are), which saves
    the most expensive step; a sort groups cases by hash, an order no figure depends on.
    """
    case = instances.get_column("case_id").cast(pl.String)
    start = instances.get_column("start_ts").dt.epoch("us").to_numpy()
    end = instances.get_column("ts").dt.epoch("us").to_numpy()
    seq_column = instances.get_column("seq").cast(pl.Int64)
    # A frame's own row numbers (and any filter of them) carry Polars' sorted flag.
    seq_ascending = seq_column.flags["SORTED_ASC"] and not seq_column.null_count()
    seq = seq_column.to_numpy()
    case_hash = case.hash(seed=0).to_numpy()
    head = _heads(case_hash)
    head_rows = np.flatnonzero(head)
    order = None
    if not _grouped_and_ordered(case_hash, head_rows, end, seq, seq_ascending):
        order = (
            pl.DataFrame({"h": case_hash, "end": end, "seq": seq})
            .select(pl.arg_sort_by(["h", "end", "seq"], maintain_order=True))
            .to_series()
            .to_numpy()
        )
        case_hash, start, end = case_hash[order], start[order], end[order]
        head = _heads(case_hash)
        head_rows = np.flatnonzero(head)
    return Encoded(
        case_column=case,
        bounds=np.append(head_rows, len(head)).astype(np.int64),
        start=start,
        end=end,
        activity_column=instances.get_column("activity").cast(pl.String),
        source_rows=order,
    )


def _heads(case_hash: np.ndarray) -> np.ndarray:
    head = np.empty(len(case_hash), dtype=bool)
    head[:1] = True
    np.not_equal(case_hash[1:], case_hash[:-1], out=head[1:])
    return head


def _codes(values: pl.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """Dense integer codes for a string column, labels in order of first appearance.

    A 64-bit hash per value; the first row of each distinct hash gives the labels, in order,
    and a small power-of-two slot table maps a hash to its code: a fraction of the cost of a
    categorical cast. No row needs a collision check, since every row's hash is one of the
    distinct ones; only their slots must differ, else a larger table is tried. Two labels
    with one 64-bit hash are as likely as ~1e-14 for a few hundred activities.
    """
    if values.null_count():
        values = values.fill_null("")
    hashes = values.hash(seed=0)
    first = hashes.arg_unique().to_numpy()
    h = hashes.to_numpy().view(np.int64)
    distinct = h[first]
    for bits in (12, 16, 20):
        mask = (1 << bits) - 1
        slot = distinct & mask
        if len(np.unique(slot)) < len(slot):
            continue  # two labels in one slot
        dense = np.zeros(1 << bits, dtype=np.int64)
        dense[slot] = np.arange(len(slot))
        return dense[h & mask], tuple(values.gather(first).to_list())
    labels = tuple(values.unique(maintain_order=True).to_list())
    physical = values.cast(pl.Enum(list(labels))).to_physical().to_numpy()
    return physical.astype(np.int64), labels


def _grouped_and_ordered(
    case_hash: np.ndarray,
    head_rows: np.ndarray,
    end: np.ndarray,
    seq: np.ndarray,
    seq_ascending: bool = False,
) -> bool:
    """Are the rows contiguous per case and in ``(end, seq)`` order within each case?

    ``head_rows`` are the rows that start a run of one case hash. Ends may only go back at
    a case boundary; ties within a case need ``seq`` not to go back, which holds when it
    never does in row order (``seq_ascending``, or one pass): a frame's row numbers always.
    """
    if len(case_hash) < 2:
        return True
    if not _all_distinct(case_hash[head_rows]):  # a case seen again later is not contiguous
        return False
    back = np.less(end[1:], end[:-1])
    back[head_rows[1:] - 1] = False
    if back.any():
        return False
    if seq_ascending or np.all(seq[1:] >= seq[:-1]):
        return True
    tie = np.equal(end[1:], end[:-1])
    tie[head_rows[1:] - 1] = False
    ties = np.flatnonzero(tie)
    return not np.any(seq[ties + 1] < seq[ties])


def _all_distinct(values: np.ndarray) -> bool:
    """Are the 64-bit ``values`` pairwise distinct? A slot table instead of a sort.

    Each value writes its index into the slot its low bits name; a value whose slot was
    overwritten shares it with another (the same value, or a neighbour in the table), and
    only the values in such crowded slots are sorted and compared: a few hundred for the
    ~57k cases of a million events, where sorting all of them costs four times as long.
    """
    n = len(values)
    if n < 2:
        return True
    bits = min(max(int(n - 1).bit_length() + 3, 12), 22)
    mask = np.int64((1 << bits) - 1)
    as_int = values.view(np.int64)
    slots = as_int & mask
    index = np.arange(n, dtype=np.int32)
    table = np.empty(1 << bits, dtype=np.int32)  # only slots written here are read back
    table[slots] = index
    lost = np.flatnonzero(table[slots] != index)
    if len(lost) == 0:
        return True
    crowded = np.zeros(1 << bits, dtype=bool)
    crowded[slots[lost]] = True
    suspects = np.sort(as_int[crowded[slots]])
    return not bool(np.any(suspects[1:] == suspects[:-1]))


# --- directly-follows ----------------------------------------------------------------


def _pairs(enc: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive pairs within cases in DFG order: (source code, target code, wait µs)."""
    order = enc.dfg_order
    act, start, end = enc.act, enc.start, enc.end
    if order is not None:
        act, start, end = act[order], start[order], end[order]
    same = enc.same_case
    return act[:-1][same], act[1:][same], (start[1:] - end[:-1])[same]


def _edge_frame(enc: Encoded, keys: np.ndarray, columns: dict[str, np.ndarray]) -> pl.DataFrame:
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
    keys: np.ndarray, micros: np.ndarray, *, stdev: bool = True
) -> tuple[np.ndarray, dict[str, np.ndarray | pl.Series]]:
    """Count, mean, median, p95, min, max, total and (``stdev``) sample stdev (s) per key.

    One Polars group-by over the integer keys: it orders each group's values on both cores.
    A single NumPy sort of ``(key, value)`` packed into an int64 was the fastest way on CPUs
    where NumPy's vectorised sort runs, and three times slower than this where it does not
    (AMD EPYC: 58 ms per million values against Polars' 18). Totals are exact integer sums
    unless a million values of a century each could overflow them.
    """
    if len(keys) == 0:
        empty = np.zeros(0)
        return keys.astype(np.int64), {
            "count": np.zeros(0, np.int64),
            **{c: empty for c in ("mean_s", "median_s", "p95_s", "min_s", "max_s", "total_s")},
            **({"stdev_s": pl.Series(empty)} if stdev else {}),
        }
    peak = max(abs(int(micros.min())), abs(int(micros.max())), 1)
    value = pl.col("v")
    total = (
        value.sum()
        if peak.bit_length() + len(keys).bit_length() < 63
        else (value.cast(pl.Float64).sum())
    )
    aggregates = [
        pl.len().alias("count"),
        total.alias("total"),
        value.median().alias("median"),
        value.quantile(0.95, "linear").alias("p95"),
        value.min().alias("min"),
        value.max().alias("max"),
    ]
    if stdev:
        aggregates.append(value.std().alias("stdev"))
    grouped = pl.DataFrame({"k": keys, "v": micros}).group_by("k").agg(aggregates).sort("k")

    def seconds(column: str) -> np.ndarray:
        return grouped.get_column(column).cast(pl.Float64).to_numpy() / _MICROS

    count = grouped.get_column("count").cast(pl.Int64).to_numpy()
    totals = seconds("total")
    stats: dict[str, np.ndarray | pl.Series] = {
        "count": count,
        "mean_s": totals / count,
        "median_s": seconds("median"),
        "p95_s": seconds("p95"),
        "min_s": seconds("min"),
        "max_s": seconds("max"),
        "total_s": totals,
    }
    if stdev:  # null for a single observation, as pandas' std is NaN there
        stats["stdev_s"] = grouped.get_column("stdev") / _MICROS
    return grouped.get_column("k").to_numpy(), stats


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
    labels at ``rows`` counted as they are (coding them would cost more than the count)."""
    if "_coded" in enc.__dict__:
        counts = np.bincount(enc.act[rows], minlength=len(enc.activities))
        present = np.flatnonzero(counts)
        counted = pl.DataFrame(
            {
                "activity": pl.Series(enc.activities, dtype=pl.String).gather(present),
                "cases": counts[present].astype(np.int64),
            }
        )
        return counted.sort(["cases", "activity"], descending=[True, False])
    counted = enc.activity_at(rows).fill_null("").value_counts(name="cases")
    return counted.select(
        pl.col(counted.columns[0]).alias("activity"), pl.col("cases").cast(pl.Int64)
    ).sort(["cases", "activity"], descending=[True, False])


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
    activities: tuple[str, ...], codes: np.ndarray, micros: np.ndarray
) -> pl.DataFrame:
    keys, stats = _group_stats(codes, micros, stdev=False)
    labels = pl.Series(activities, dtype=pl.String).gather(keys)
    frame = pl.DataFrame({"activity": labels, **stats})
    return frame.select(
        "activity", "count", "mean_s", "median_s", "p95_s", "min_s", "max_s", "total_s"
    ).sort("activity")


def service_times(enc: Encoded) -> pl.DataFrame:
    """Per activity, service time end - start in seconds (pm4py's ``get_service_time``)."""
    return _per_activity(enc.activities, enc.act, enc.end - enc.start)


def service_times_of(instances: pl.DataFrame) -> pl.DataFrame:
    """:func:`service_times` straight from an instance frame, in any row order.

    Service time is per instance, so it needs no case order: a log not yet encoded skips
    :func:`encode` (hashing the cases and checking their order) for this figure alone.
    """
    codes, labels = _codes(instances.get_column("activity").cast(pl.String))
    start = instances.get_column("start_ts").dt.epoch("us").to_numpy()
    end = instances.get_column("ts").dt.epoch("us").to_numpy()
    return _per_activity(labels, codes, end - start)


def waiting_times(enc: Encoded) -> pl.DataFrame:
    """Per activity, the wait before it: its start - the previous instance's end in the case.

    It is the performance DFG's waiting time grouped by target, so the two always agree;
    a case's first activity has no wait before it and is not counted.
    """
    _, dst, wait = _pairs(enc)
    return _per_activity(enc.activities, dst, wait)
