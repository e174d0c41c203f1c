"""Spans built whole by SpanEmitter are the spans the SDK would have made, on the wire too."""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import (
    Link,
    NoOpTracer,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from orchestrator.span_export import encode_span
from orchestrator.spans import SpanEmitter
from orchestrator.telemetry import CaseIdGenerator, case_trace

TRACE, SPAN, LINK = 2**120 + 11, 2**62 + 5, 987654321
ATTRS = {"baton.case_id": "c1", "baton.attempt": 2, "messaging.operation.type": "process"}


def provider(**kwargs: object) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    made = TracerProvider(
        resource=Resource.create({"service.name": "svc"}), id_generator=CaseIdGenerator(),
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    made.add_span_processor(SimpleSpanProcessor(exporter))
    return made, exporter


def test_emitted_span_equals_the_sdk_span_in_otlp():
    tracer_provider, exporter = provider()
    tracer = tracer_provider.get_tracer("baton.orchestrator")
    # The reference: the same span made through the API, as the runtime made it before.
    with case_trace(TRACE, SPAN):
        link = Link(SpanContext(TRACE, LINK, True, TraceFlags(TraceFlags.SAMPLED)))
        made = tracer.start_span("process q", kind=SpanKind.CONSUMER, attributes=ATTRS,
                                 links=[link], start_time=1_000, context=Context())  # fmt: skip
    made.set_status(Status(StatusCode.ERROR, "PortalDown"))
    made.end(end_time=5_000)
    with tracer.start_as_current_span("unrelated"):  # the emitted span is a root regardless
        got = SpanEmitter(tracer).emit(
            "process q", SpanKind.CONSUMER, TRACE, SPAN, 1_000, 5_000, ATTRS, LINK,
            StatusCode.ERROR, "PortalDown",
        )  # fmt: skip
    assert got == SPAN
    reference, emitted = (s for s in exporter.get_finished_spans() if s.name == "process q")
    assert reference.parent is None and emitted.parent is None
    assert emitted.context == reference.context
    assert dict(emitted.attributes or {}) == ATTRS
    assert [x.context for x in emitted.links] == [x.context for x in reference.links]
    assert (emitted.status.status_code, emitted.status.description) == (
        StatusCode.ERROR, "PortalDown")  # fmt: skip
    assert (emitted.start_time, emitted.end_time) == (1_000, 5_000)
    assert emitted.resource == reference.resource
    assert emitted.instrumentation_scope == reference.instrumentation_scope
    theirs = encode_spans([emitted]).resource_spans[0]
    assert theirs.scope_spans[0].scope.name == "baton.orchestrator"
    pb = theirs.scope_spans[0].spans[0]
    ref = encode_spans([reference]).resource_spans[0].scope_spans[0].spans[0]
    assert pb == ref
    # and Baton's own encoder agrees with the SDK's on the emitted span
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

    assert PbSpan.FromString(encode_span(emitted)) == pb


def test_sampler_decides_and_nothing_is_recorded_when_it_says_no():
    tracer_provider, exporter = provider(sampler=ALWAYS_OFF)
    emitter = SpanEmitter(tracer_provider.get_tracer("t"))
    assert emitter.emit("send q", SpanKind.PRODUCER, TRACE, SPAN, 1, 1, ATTRS) == 0
    assert exporter.get_finished_spans() == ()


def test_other_tracers_go_through_the_api():
    assert SpanEmitter(NoOpTracer()).emit("send q", SpanKind.PRODUCER, TRACE, SPAN, 1, 1, {}) == 0
