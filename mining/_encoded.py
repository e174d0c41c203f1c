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

    case_ids: pl.Series
    bounds: np.ndarray
    case_of_row: np.ndarray
    act: np.ndarray
    activities: tuple[str, ...]
    start: np.ndarray
    end: np.ndarray

    @property
    def cases(self) -> int:
        return len(self.case_ids)

    @property
    def rows(self) -> int:
        return len(self.act)

    @functools.cached_property
    def dfg_order(self) -> np.ndarray | None:
        """Row permutation into ``(case, start, end, seq)`` order, or ``None`` if it is the same.

        Rows are already by case then ``(end, seq)``; when ``start`` never decreases within a
        case the two orders agree, which is the usual case and costs one comparison pass.
        """
        if self.rows < 2:
            return None
        same_case = self.case_of_row[1:] == self.case_of_row[:-1]
        if not np.any(same_case & (self.start[1:] < self.start[:-1])):
            return None
        rows = np.arange(self.rows)
        # np.lexsort is stable: the last key is the primary one.
        return np.lexsort((rows, self.end, self.start, self.case_of_row))


def encode(instances: pl.DataFrame) -> Encoded:
    """Encode an instance frame (columns of :data:`INSTANCE_SCHEMA`).

    The frame is sorted by case then ``(ts, seq)`` only if it is not already so grouped
    (files and Baton's store usually are), which saves the most expensive step.
    """
    frame = instances.select(
        pl.col("case_id").cast(pl.String),
        pl.col("activity").cast(pl.String),
        pl.col("start_ts").dt.epoch("us").alias("start"),
        pl.col("ts").dt.epoch("us").alias("end"),
        pl.col("seq").cast(pl.Int64),
    )
    if not _grouped_and_ordered(frame):
        # Sorting by a hash of the case id groups cases as well as sorting by the text, at a
        # fraction of the cost; cases then come in hash order, which no figure depends on.
        frame = frame.sort(pl.col("case_id").hash(seed=0), "end", "seq")
        if not _grouped_and_ordered(frame):  # two case ids with one hash: sort by the text
            frame = frame.sort(["case_id", "end", "seq"], maintain_order=True)
    case = frame.get_column("case_id")
    head = case.ne_missing(case.shift(1)).fill_null(True)
    head_np = head.to_numpy()
    bounds = np.append(np.flatnonzero(head_np), len(frame)).astype(np.int64)
    case_of_row = np.cumsum(head_np, dtype=np.int64) - 1
    codes, labels = _codes(frame.get_column("activity"))
    return Encoded(
        case_ids=case.filter(head),
        bounds=bounds,
        case_of_row=case_of_row,
        act=codes,
        activities=labels,
        start=frame.get_column("start").to_numpy(),
        end=frame.get_column("end").to_numpy(),
    )


def _codes(values: pl.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """Dense integer codes for a string column, labels in order of first appearance.

    A 64-bit hash per value, then a small slot table: about a quarter of the cost of a
    categorical cast. Two labels with one 64-bit hash are as likely as ~1e-14 for a few
    hundred activities; the fallback handles slot collisions, not hash collisions.
    """
    if values.null_count():
        values = values.fill_null("")
    hashes = values.hash(seed=0)
    first = hashes.is_first_distinct()
    labels = tuple(values.filter(first).to_list())
    distinct = hashes.filter(first).to_numpy()
    h = hashes.to_numpy()
    for slots in (4093, 65521, 1048573):
        if len(distinct) * 4 > slots:
            continue
        slot_of = distinct % np.uint64(slots)
        if len(np.unique(slot_of)) == len(distinct):
            table = np.zeros(slots, dtype=np.int64)
            table[slot_of.astype(np.int64)] = np.arange(len(distinct))
            return table[(h % np.uint64(slots)).astype(np.int64)], labels
    physical = values.cast(pl.Enum(list(labels))).to_physical().to_numpy()
    return physical.astype(np.int64), labels


def _grouped_and_ordered(frame: pl.DataFrame) -> bool:
    """Are the rows contiguous per case and in ``(end, seq)`` order within each case?"""
    if frame.height < 2:
        return True
    case = frame.get_column("case_id")
    head = case.ne_missing(case.shift(1)).fill_null(True)
    heads = case.filter(head)
    if heads.n_unique() != heads.len():
        return False
    end = frame.get_column("end").to_numpy()
    seq = frame.get_column("seq").to_numpy()
    inner = ~head.to_numpy()[1:]
    step_end = end[1:] - end[:-1]
    ordered = (step_end > 0) | ((step_end == 0) & (seq[1:] >= seq[:-1]))
    return bool(np.all(ordered | ~inner))


# --- directly-follows ----------------------------------------------------------------


def _pairs(enc: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive pairs within cases in DFG order: (source code, target code, wait µs)."""
    order = enc.dfg_order
    act, start, end, case = enc.act, enc.start, enc.end, enc.case_of_row
    if order is not None:
        act, start, end, case = act[order], start[order], end[order], case[order]
    same = case[1:] == case[:-1]
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
    frame = pl.DataFrame({"key": src * k + dst, "w": wait / _MICROS})
    agg = (
        frame.group_by("key")
        .agg(
            pl.len().alias("frequency"),
            pl.col("w").mean().alias("mean_s"),
            pl.col("w").median().alias("median_s"),
            pl.col("w").quantile(0.95, interpolation="linear").alias("p95_s"),
            pl.col("w").min().alias("min_s"),
            pl.col("w").max().alias("max_s"),
            pl.col("w").sum().alias("total_s"),
            pl.col("w").std(ddof=1).alias("stdev_s"),
        )
        .sort("key")
    )
    keys = agg.get_column("key").to_numpy()
    columns = {name: agg.get_column(name) for name in agg.columns if name != "key"}
    out = _edge_frame(enc, keys, columns)  # type: ignore[arg-type]
    return out.with_columns(pl.col("frequency").cast(pl.Int64)).sort(
        ["frequency", "source", "target"], descending=[True, False, False]
    )


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


def _count_labels(enc: Encoded, codes: np.ndarray, name: str) -> pl.DataFrame:
    counts = np.bincount(codes, minlength=len(enc.activities))
    keep = np.flatnonzero(counts)
    labels = pl.Series(enc.activities, dtype=pl.String).gather(keep)
    return pl.DataFrame({"activity": labels, name: counts[keep].astype(np.int64)}).sort(
        [name, "activity"], descending=[True, False]
    )


def start_activities(enc: Encoded) -> pl.DataFrame:
    """``activity, cases``: how many cases begin with each activity."""
    return _count_labels(enc, enc.act[enc.bounds[:-1]], "cases")


def end_activities(enc: Encoded) -> pl.DataFrame:
    """``activity, cases``: how many cases end with each activity."""
    return _count_labels(enc, enc.act[enc.bounds[1:] - 1], "cases")


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
    _, first_case, counts = np.unique(_case_hashes(enc), return_index=True, return_counts=True)
    lengths = np.diff(enc.bounds)[first_case]
    starts = enc.bounds[first_case]
    owner = np.repeat(np.arange(len(first_case)), lengths)
    rows = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    labels = pl.Series(enc.activities, dtype=pl.String).gather(enc.act[starts[owner] + rows])
    frame = (
        pl.DataFrame({"owner": owner, "activity": labels})
        .group_by("owner", maintain_order=True)
        .agg(pl.col("activity").alias("activities"))
        .with_columns(
            variant=pl.col("activities").list.join(","),
            cases=pl.Series(counts.astype(np.int64)),
        )
        .select("variant", "activities", "cases")
    )
    return frame.with_columns(share=pl.col("cases") / enc.cases).sort(
        ["cases", "variant"], descending=[True, False]
    )


def case_variant_ids(enc: Encoded) -> np.ndarray:
    """Per case, the index of its variant among the case hashes (for variant filters)."""
    _, inverse = np.unique(_case_hashes(enc), return_inverse=True)
    return inverse


def case_sequences(enc: Encoded) -> list[str]:
    """Per case, its variant text; used by the variant filter on small selections."""
    labels = enc.activities
    return [
        ",".join(labels[c] for c in enc.act[enc.bounds[i] : enc.bounds[i + 1]])
        for i in range(enc.cases)
    ]


def rework(enc: Encoded) -> pl.DataFrame:
    """``activity, cases``: cases in which the activity occurs more than once (pm4py's rework)."""
    k = len(enc.activities)
    key = enc.case_of_row * k + enc.act
    if enc.cases * k <= 64_000_000:
        repeated = np.flatnonzero(np.bincount(key, minlength=enc.cases * k) > 1) % k
    else:
        counted = pl.Series("key", key).value_counts(name="n")
        repeated = counted.filter(pl.col("n") > 1).get_column("key").to_numpy() % k
    return _count_labels(enc, repeated, "cases")


# --- per activity --------------------------------------------------------------------


def _per_activity(enc: Encoded, codes: np.ndarray, seconds: np.ndarray) -> pl.DataFrame:
    frame = pl.DataFrame({"code": codes, "s": seconds})
    agg = (
        frame.group_by("code")
        .agg(
            pl.len().alias("count"),
            pl.col("s").mean().alias("mean_s"),
            pl.col("s").median().alias("median_s"),
            pl.col("s").quantile(0.95, interpolation="linear").alias("p95_s"),
            pl.col("s").min().alias("min_s"),
            pl.col("s").max().alias("max_s"),
            pl.col("s").sum().alias("total_s"),
        )
        .sort("code")
    )
    labels = pl.Series(enc.activities, dtype=pl.String).gather(agg.get_column("code").to_numpy())
    return (
        agg.drop("code")
        .insert_column(0, labels.alias("activity"))
        .with_columns(pl.col("count").cast(pl.Int64))
        .sort("activity")
    )


def service_times(enc: Encoded) -> pl.DataFrame:
    """Per activity, service time end - start in seconds (pm4py's ``get_service_time``)."""
    return _per_activity(enc, enc.act, (enc.end - enc.start) / _MICROS)


def waiting_times(enc: Encoded) -> pl.DataFrame:
    """Per activity, the wait before it: its start - the previous instance's end in the case.

    It is the performance DFG's waiting time grouped by target, so the two always agree;
    a case's first activity has no wait before it and is not counted.
    """
    _, dst, wait = _pairs(enc)
    return _per_activity(enc, dst, wait / _MICROS)
