"""Load generator for the crash test: the real OTLP exporters, at-least-once, acks to a file.

Run as a script (``python loadgen.py URL ACKS --batches N [--stop-file F]``). Each batch is
some spans and some work-item log records, built with the OpenTelemetry SDK and sent with
the SDK's own protobuf exporters. A batch is sent until the collector answers 200 (the
exporter retries within its timeout; this script retries after that, as Baton's outbox
shipper does), and only then are its span and event ids appended to ACKS, one
``span <trace> <span>`` or ``event <id>`` line each.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("acks", type=Path)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--size", type=int, default=50)
    parser.add_argument("--deadline-s", type=float, default=120)
    parser.add_argument(
        "--stop-file", type=Path, help="finish the current batch and stop once this exists"
    )
    args = parser.parse_args()

    resource = Resource.create({"service.name": "crash-loadgen"})
    spans_memory = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans_memory))
    tracer = tracer_provider.get_tracer("loadgen")
    logs_memory = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs_memory))
    logger = logger_provider.get_logger("loadgen")
    span_exporter = OTLPSpanExporter(endpoint=f"{args.url}/v1/traces", timeout=3)
    log_exporter = OTLPLogExporter(endpoint=f"{args.url}/v1/logs", timeout=3)
    deadline = time.monotonic() + args.deadline_s

    with args.acks.open("a", encoding="utf-8") as acks:
        for batch in range(args.batches):
            if args.stop_file and args.stop_file.exists():
                break
            for i in range(args.size):
                with tracer.start_as_current_span(f"step {i % 5}", attributes={"batch": batch}):
                    pass
                logger.emit(
                    event_name="baton.work_item",
                    body="completed",
                    attributes={
                        "baton.event_id": f"ev-{batch}-{i}",
                        "baton.seq": batch * args.size + i,
                        "baton.case_id": f"case-{batch}",
                        "baton.step": f"step {i % 5}",
                        "baton.lifecycle": "completed",
                    },
                    timestamp=1_772_442_000_000_000_000 + (batch * args.size + i) * 1_000_000,
                )
            spans = spans_memory.get_finished_spans()
            spans_memory.clear()
            records = logs_memory.get_finished_logs()
            logs_memory.clear()
            while span_exporter.export(spans) is not SpanExportResult.SUCCESS:
                if time.monotonic() > deadline:
                    raise SystemExit("gave up: the collector never came back")
                time.sleep(0.2)
            for span in spans:
                ctx = span.get_span_context()
                acks.write(f"span {ctx.trace_id:032x} {ctx.span_id:016x}\n")
            acks.flush()
            while log_exporter.export(records) is not LogRecordExportResult.SUCCESS:
                if time.monotonic() > deadline:
                    raise SystemExit("gave up: the collector never came back")
                time.sleep(0.2)
            for record in records:
                acks.write(f"event {record.log_record.attributes['baton.event_id']}\n")
            acks.flush()
    print("done", flush=True)


if __name__ == "__main__":
    main()
