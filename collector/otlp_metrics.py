"""Metric points of an ``ExportMetricsServiceRequest``, one row per data point.

Metrics are stored so any OTel SDK's metric export works and gauges such as queue depth or
bot heartbeats can be charted beside the event log. One row per point: a gauge or sum point
keeps its value; a histogram, exponential histogram or summary point keeps its sum as
``value`` and its ``count``. Buckets and quantiles are not stored (no Baton figure uses them).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from collector._values import ATTRS, STR, TS, micros, service_name, stringify

#: Columns of the ``metrics`` table.
METRIC_SCHEMA = pa.schema(
    [
        ("ts", TS),
        ("name", STR),
        ("kind", STR),
        ("value", pa.float64()),
        ("count", pa.int64()),
        ("unit", STR),
        ("service_name", STR),
        ("attributes", ATTRS),
    ]
)

_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def decode_metric_request(request: ExportMetricsServiceRequest) -> tuple[pa.Table, list[str]]:
    """One row per data point, and one message per metric whose points were rejected."""
    cols: dict[str, list[Any]] = {name: [] for name in METRIC_SCHEMA.names}
    rejected: list[str] = []
    for resource_metrics in request.resource_metrics:
        service = service_name(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind not in _KINDS:
                    continue  # no data: zero points, nothing to reject
                if not metric.name:
                    points = len(getattr(metric, kind).data_points)
                    rejected += [f"a {kind} metric has no name"] * points
                    continue
                _append_points(cols, metric, kind, service)
    return pa.table(cols, schema=METRIC_SCHEMA), rejected


def _append_points(
    cols: dict[str, list[Any]], metric: Metric, kind: str, service: str | None
) -> None:
    for point in getattr(metric, kind).data_points:
        if kind in ("gauge", "sum"):
            which = point.WhichOneof("value")
            value: float | None = None if which is None else float(getattr(point, which))
            count = None
        else:
            value = point.sum if kind == "summary" or point.HasField("sum") else None
            count = int(point.count)
        cols["ts"].append(micros(point.time_unix_nano))
        cols["name"].append(metric.name)
        cols["kind"].append(kind)
        cols["value"].append(value)
        cols["count"].append(count)
        cols["unit"].append(metric.unit or None)
        cols["service_name"].append(service)
        cols["attributes"].append(
            list({kv.key: stringify(kv.value) for kv in point.attributes}.items())
        )
