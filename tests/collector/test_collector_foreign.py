"""Any OpenTelemetry source becomes an event log: a small service with no Baton code.

The "shop" below is instrumented with the plain OpenTelemetry SDK and its OTLP exporter, the
way any team's service would be; it knows nothing of Baton's contract. Its spans become
events (case = ``order.id`` when configured, else the trace id; activity = span name;
started/completed, failed on ERROR), and ``mining`` figures work on them.
"""

from __future__ import annotations

import pyarrow as pa
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode


def run_shop(endpoint: str, orders: int) -> None:
    """A tiny order service: each order is checked, paid for (one payment fails), shipped."""
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    tracer = provider.get_tracer("shop")
    for n in range(orders):
        with tracer.start_as_current_span("place order", attributes={"order.id": f"o-{n}"}):
            with tracer.start_as_current_span("check stock", attributes={"order.id": f"o-{n}"}):
                pass
            with tracer.start_as_current_span(
                "take payment", attributes={"order.id": f"o-{n}"}
            ) as pay:
                if n == 1:
                    pay.set_attribute("error.type", "CardDeclined")
                    pay.set_status(Status(StatusCode.ERROR, "declined"))
            if n != 1:
                with tracer.start_as_current_span(
                    "ship",
                    attributes={"order.id": f"o-{n}", "messaging.destination.name": "dispatch"},
                ):
                    pass
    provider.shutdown()


def _events(collector) -> list[tuple]:
    cur = collector.store.cursor()
    try:
        return cur.execute(
            "SELECT case_id, activity, lifecycle, resource, queue, error_type, seq "
            "FROM events ORDER BY case_id, ts, seq"
        ).fetchall()
    finally:
        cur.close()


def test_plain_sdk_service_becomes_an_event_log(serve) -> None:
    collector = serve(case_attribute="order.id")
    run_shop(f"{collector.url}/v1/traces", orders=3)

    events = _events(collector)
    assert len(events) == 2 * (4 + 3 + 4)  # a started and an ended event per span
    order1 = [(e[1], e[2]) for e in events if e[0] == "o-1"]
    assert order1 == [
        ("place order", "started"),
        ("check stock", "started"),
        ("check stock", "completed"),
        ("take payment", "started"),
        ("take payment", "failed"),
        ("place order", "completed"),
    ]
    failed = next(e for e in events if e[2] == "failed")
    assert failed[5] == "CardDeclined"
    assert {e[3] for e in events} == {"shop"}
    assert {e[4] for e in events if e[1] == "ship"} == {"dispatch"}
    assert all(e[6] is not None for e in events)

    dfg = requests.get(f"{collector.url}/api/v1/figures/dfg", timeout=10)
    edges = {
        (r["source"], r["target"]): r["frequency"]
        for r in pa.ipc.open_stream(dfg.content).read_all().to_pylist()
    }
    assert edges[("check stock", "take payment")] == 3


def test_case_falls_back_to_the_trace_id(collector) -> None:
    run_shop(f"{collector.url}/v1/traces", orders=2)
    cur = collector.store.cursor()
    try:
        pairs = cur.execute("SELECT DISTINCT e.case_id, e.trace_id FROM events e").fetchall()
    finally:
        cur.close()
    assert len(pairs) == 2 and all(case == trace for case, trace in pairs)


def test_a_span_sent_twice_maps_to_the_same_events_once(collector) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("shop").start_as_current_span("pack"):
        pass
    exporter = OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces")
    for _ in range(3):
        exporter.export(memory.get_finished_spans())
    assert (collector.store.counts()["spans"], collector.store.counts()["events"]) == (1, 2)
