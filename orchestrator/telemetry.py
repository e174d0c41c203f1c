"""Tracing set-up for the orchestrator's entry points, and the one-trace-per-case id rule.

Library code (the engine) uses only the OpenTelemetry API; this module wires the SDK and
the OTLP/HTTP exporter once, at the entry point. The trace id of every span of a case is
derived from the case id (:func:`baton.contract.trace_id_for_case`) through an id generator
that reads the case from a context variable, so spans of one case share a trace without a
span staying open across a wait.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Protocol

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

from baton.contract import ORCHESTRATOR_SERVICE, SCOPE_NAME
from orchestrator.span_export import FastSpanProcessor

_case_trace: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "baton_case_trace", default=None
)
_next_span_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "baton_next_span_id", default=None
)


@contextlib.contextmanager
def case_trace(trace_id: int, span_id: int | None = None) -> Iterator[None]:
    """Root spans started inside this block get ``trace_id`` (and ``span_id`` when given).

    A deterministic span id lets a resumed simulation re-send a span the collector already
    holds: it is stored once, because the collector de-duplicates by (trace id, span id).
    """
    trace_token = _case_trace.set(trace_id)
    span_token = _next_span_id.set(span_id)
    try:
        yield
    finally:
        _next_span_id.reset(span_token)
        _case_trace.reset(trace_token)


class CaseIdGenerator(IdGenerator):
    """The case's trace id and a chosen span id when set; random ids otherwise."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        return _next_span_id.get() or self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        return _case_trace.get() or self._random.generate_trace_id()


class CountingExporter(SpanExporter):
    """Passes spans on and counts those the collector accepted, for honest reports."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.exported = 0
        self.dropped = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.dropped += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


#: Span exporters to choose from: Baton's own (default) or the SDK's batch processor with its
#: OTLP/HTTP exporter.
SPAN_EXPORTERS = ("fast", "otlp")


class SpanCounts(Protocol):
    """How many spans reached the collector, and how many were given up."""

    exported: int
    dropped: int


def tracer_provider(
    endpoint: str | None, service_name: str = ORCHESTRATOR_SERVICE, *, exporter: str = "fast"
) -> tuple[TracerProvider, SpanCounts | None]:
    """A provider exporting to ``{endpoint}/v1/traces``; ``None`` records nothing.

    ``exporter="fast"`` uses :class:`~orchestrator.span_export.FastSpanProcessor`;
    ``"otlp"`` the SDK's ``BatchSpanProcessor`` with its OTLP/HTTP exporter (the plain
    OpenTelemetry path, which the benchmarks compare against).
    """
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        id_generator=CaseIdGenerator(),
    )
    if endpoint is None:
        return provider, None
    if exporter == "fast":
        processor = FastSpanProcessor(endpoint, [("service.name", service_name)], SCOPE_NAME)
        provider.add_span_processor(processor)
        return provider, processor
    if exporter != "otlp":
        raise ValueError(f"unknown span exporter {exporter!r}: use 'fast' or 'otlp'")
    counting = CountingExporter(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
    provider.add_span_processor(
        BatchSpanProcessor(
            counting,
            max_queue_size=65536,
            max_export_batch_size=2048,
            schedule_delay_millis=500,
        )
    )
    return provider, counting
