"""Spans of any OpenTelemetry source as event-log rows, so any instrumented service can be mined.

A span without ``baton.*`` attributes (a service that knows nothing of Baton) becomes two
``events`` rows: ``started`` at its start and ``completed`` (``failed`` when its status is
ERROR) at its end. The case is the value of a configurable attribute, else the trace id; the
activity is the span name; the resource is ``service.name``, which also names the workflow so
the dashboard's workflow filter tells services apart. Event ids are derived from trace id, span
id and lifecycle, so a span sent twice maps to the same two ids and de-duplicates like any
event. ``seq`` is left empty: the store numbers these rows in arrival order. ``attributes``
is left empty too: the span's row holds them (join on ``trace_id, span_id``), and copying
them into both events would triple the most expensive part of storing a span.

Baton's own spans carry ``baton.*`` attributes and are not mapped: the orchestrator sends its
events as log records, with its own ids and sequence numbers.

Pure Arrow compute, no Python loop per row: this runs on every span batch.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from baton.contract import Attr, Lifecycle, ResourceKind
from collector.otlp_logs import EVENT_SCHEMA

#: Attribute prefix that marks a span as Baton's own.
BATON_PREFIX = "baton."


def foreign_mask(spans: pa.Table) -> pa.Array:
    """True for spans without any ``baton.*`` attribute."""
    attributes = spans.column("attributes").combine_chunks()
    if isinstance(attributes, pa.ChunkedArray):  # an empty table has no chunk to combine
        attributes = pa.array([], attributes.type)
    # Per-row "any key starts with baton.": a running count over all keys, read at the
    # offsets. (MapArray.keys ignores slicing, hence the rebasing on offsets[0].)
    offsets = attributes.offsets.to_numpy()
    first = int(offsets[0]) if len(offsets) else 0
    keys = attributes.keys.slice(first, int(offsets[-1]) - first if len(offsets) else 0)
    baton = pc.starts_with(keys, BATON_PREFIX).to_numpy(zero_copy_only=False)
    running = np.zeros(len(baton) + 1, dtype=np.int64)
    np.cumsum(baton, out=running[1:])
    rebased = offsets - first
    has_baton = (running[rebased[1:]] - running[rebased[:-1]]) > 0
    return pa.array(~has_baton)


def spans_to_events(spans: pa.Table, case_attribute: str | None = None) -> pa.Table:
    """Events (:data:`EVENT_SCHEMA`) for the spans that carry no ``baton.*`` attribute.

    Example:
        >>> from collector.otlp_spans import SPAN_SCHEMA
        >>> span = {"trace_id": "ab" * 16, "span_id": "cd" * 8, "name": "GET /cart",
        ...         "status_code": "ERROR", "service_name": "shop", "attributes": []}
        >>> events = spans_to_events(pa.Table.from_pylist([span], schema=SPAN_SCHEMA))
        >>> events.column("lifecycle").to_pylist()
        ['started', 'failed']
    """
    foreign = spans.filter(foreign_mask(spans))
    if foreign.num_rows == 0:
        return EVENT_SCHEMA.empty_table()
    attributes = foreign.column("attributes")
    trace_id = foreign.column("trace_id")
    case_id = trace_id
    if case_attribute:
        case_id = pc.coalesce(_lookup(attributes, case_attribute), trace_id)
    failed = pc.equal(foreign.column("status_code"), "ERROR")
    end_lifecycle = pc.if_else(failed, Lifecycle.FAILED.value, Lifecycle.COMPLETED.value)
    common = {
        "case_id": case_id,
        "workflow": foreign.column("service_name"),
        "activity": foreign.column("name"),
        "resource": foreign.column("service_name"),
        "resource_kind": pa.repeat(ResourceKind.SYSTEM.value, foreign.num_rows),
        "queue": _lookup(attributes, Attr.MESSAGING_DESTINATION),
        "trace_id": trace_id,
        "span_id": foreign.column("span_id"),
    }
    started = _events(
        foreign, common, pa.repeat(Lifecycle.STARTED.value, foreign.num_rows), "start_ts"
    )
    ended = _events(foreign, common, end_lifecycle, "end_ts")
    ended = ended.set_column(
        EVENT_SCHEMA.get_field_index("error_type"),
        "error_type",
        pc.if_else(failed, _lookup(attributes, Attr.ERROR_TYPE), pa.scalar(None, pa.string())),
    )
    return pa.concat_tables([started, ended])


def _events(
    spans: pa.Table, common: dict[str, pa.Array | pa.ChunkedArray], lifecycle: pa.Array, ts: str
) -> pa.Table:
    event_id = pc.binary_join_element_wise(common["trace_id"], common["span_id"], lifecycle, "-")
    columns = {**common, "event_id": event_id, "lifecycle": lifecycle, "ts": spans.column(ts)}
    n = spans.num_rows
    return pa.table(
        [columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in EVENT_SCHEMA],
        schema=EVENT_SCHEMA,
    )


def _lookup(attributes: pa.ChunkedArray, key: str) -> pa.ChunkedArray:
    return pc.map_lookup(attributes, pa.scalar(key), "first")
