"""Pure frame transforms the pages need on top of :mod:`mining`'s figures.

Nothing here computes a figure of its own from events; it joins, filters or reshapes frames
``mining`` returned, so the numbers shown stay ``mining``'s.
"""

from __future__ import annotations

from typing import Final

import polars as pl

#: Columns of ``performance_dfg`` the process map offers: its column -> (ours, label).
PERFORMANCE_MEASURES: Final = {
    "median_s": ("median_wait_s", "Median waiting time"),
    "p95_s": ("p95_wait_s", "P95 waiting time"),
    "max_s": ("max_wait_s", "Max waiting time"),
    "total_s": ("total_wait_s", "Total waiting time"),
}


def with_performance(dfg: pl.DataFrame, performance: pl.DataFrame) -> pl.DataFrame:
    """``dfg`` with the performance DFG's waiting-time aggregates joined on its edges, named
    ``median_wait_s``, ``p95_wait_s``, ``max_wait_s`` and ``total_wait_s``.

    Example:
        >>> dfg = pl.DataFrame({"source": ["a"], "target": ["b"], "frequency": [2]})
        >>> perf = pl.DataFrame({"source": ["a"], "target": ["b"], "median_s": [5.0]})
        >>> with_performance(dfg, perf).columns
        ['source', 'target', 'frequency', 'median_wait_s']
    """
    extra = {c: ours for c, (ours, _) in PERFORMANCE_MEASURES.items() if c in performance.columns}
    if not extra:
        return dfg
    return dfg.join(
        performance.select("source", "target", *extra).rename(extra),
        on=["source", "target"],
        how="left",
    )


def cases_with_activity(instances: pl.DataFrame, activity: str) -> pl.DataFrame:
    """Cases that executed ``activity``: how often, first start and last end.

    Example:
        >>> from datetime import datetime as dt
        >>> inst = pl.DataFrame({"case_id": ["c1", "c1", "c2"], "activity": ["a", "a", "b"],
        ...     "start_ts": [dt(2026, 3, 2)] * 3, "ts": [dt(2026, 3, 3)] * 3})
        >>> cases_with_activity(inst, "a")["executions"].to_list()
        [2]
    """
    return (
        instances.filter(pl.col("activity") == activity)
        .group_by("case_id")
        .agg(
            executions=pl.len(),
            first_start=pl.col("start_ts").min(),
            last_end=pl.col("ts").max(),
        )
        .sort("first_start", "case_id")
    )


def cases_on_edge(instances: pl.DataFrame, source: str, target: str) -> pl.DataFrame:
    """Cases in which ``target`` directly follows ``source``, with each wait between them.

    ``instances`` is ``activity_instances`` (ordered by case, then ``(ts, seq)``), so
    "directly follows" is the same succession the DFG counts.

    Example:
        >>> from datetime import datetime as dt
        >>> inst = pl.DataFrame({"case_id": ["c1", "c1"], "activity": ["a", "b"],
        ...     "start_ts": [dt(2026, 3, 2, 9), dt(2026, 3, 2, 10)],
        ...     "ts": [dt(2026, 3, 2, 9, 30), dt(2026, 3, 2, 11)], "seq": [2, 4]})
        >>> cases_on_edge(inst, "a", "b").select("case_id", "times", "mean_wait_s").rows()
        [('c1', 1, 1800.0)]
    """
    ordered = instances.sort(["case_id", "ts", "seq"] if "seq" in instances.columns else
                             ["case_id", "ts"])  # fmt: skip
    pairs = ordered.with_columns(
        next_activity=pl.col("activity").shift(-1).over("case_id"),
        next_start=pl.col("start_ts").shift(-1).over("case_id"),
    ).filter((pl.col("activity") == source) & (pl.col("next_activity") == target))
    return (
        pairs.with_columns(
            wait_s=(pl.col("next_start") - pl.col("ts")).dt.total_microseconds() / 1e6
        )
        .group_by("case_id")
        .agg(
            times=pl.len(),
            mean_wait_s=pl.col("wait_s").mean(),
            first_at=pl.col("ts").min(),
        )
        .sort("first_at", "case_id")
    )


def variant_frame(variants: pl.DataFrame) -> pl.DataFrame:
    """``variants`` with its path readable (steps joined by →), most frequent first.

    Example:
        >>> frame = pl.DataFrame({"variant": ["a,b"], "activities": [["a", "b"]],
        ...                       "cases": [3], "share": [1.0]})
        >>> variant_frame(frame)["variant"].to_list()
        ['a → b']
    """
    frame = variants
    if "activities" in frame.columns and isinstance(frame.schema["activities"], pl.List):
        frame = frame.with_columns(
            variant=pl.col("activities").list.join(" → "),
            steps=pl.col("activities").list.len(),
        ).drop("activities")
    return frame.sort("cases", descending=True, maintain_order=True)
