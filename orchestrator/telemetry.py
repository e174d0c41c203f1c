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

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

from baton.contract import ORCHESTRATOR_SERVICE

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
        self.failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def tracer_provider(
    endpoint: str | None, service_name: str = ORCHESTRATOR_SERVICE
) -> tuple[TracerProvider, CountingExporter | None]:
    """A provider exporting to ``{endpoint}/v1/traces``; ``None`` records nothing."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        id_generator=CaseIdGenerator(),
    )
    if endpoint is None:
        return provider, None
    exporter = CountingExporter(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter,
            max_queue_size=65536,
            max_export_batch_size=2048,
            schedule_delay_millis=500,
        )
    )
    return provider, exporter
