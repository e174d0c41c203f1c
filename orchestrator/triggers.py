"""Triggers that start cases: a watched folder and cron-like schedules.

Both call :meth:`~orchestrator.runtime.Runtime.start_case`, which is idempotent by the case's
reference, so a file seen twice or a schedule fired twice after a restart starts one case.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from croniter import croniter

from orchestrator.errors import PlaybookError

log = logging.getLogger(__name__)

StartCase = Callable[[str, str, Mapping[str, Any]], str]


class FolderWatcher:
    """Starts a case for each new ``*.json`` file dropped in a folder (a faxed referral).

    A file holds ``{"workflow": ..., "reference": ..., "payer": ..., "site": ...,
    "priority": ..., "payload": {...}}``; ``reference`` defaults to the file name. Processed
    files move to ``processed/``, unreadable ones to ``failed/`` beside an ``.error`` note,
    so nothing is started twice and nothing is silently dropped.
    """

    def __init__(self, folder: Path, start_case: StartCase, default_workflow: str) -> None:
        self.folder = folder
        self.start_case = start_case
        self.default_workflow = default_workflow
        for sub in ("processed", "failed"):
            (folder / sub).mkdir(parents=True, exist_ok=True)

    def poll(self) -> int:
        """Handle every file present now; returns how many cases it started."""
        started = 0
        for path in sorted(self.folder.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(data, dict):
                    raise ValueError("the file must hold a JSON object")
                workflow = str(data.pop("workflow", self.default_workflow))
                reference = str(data.pop("reference", path.stem))
                self.start_case(workflow, reference, data)
            except Exception as exc:  # a bad file must not stop the watcher
                log.warning("could not start a case from %s: %s", path.name, exc)
                path.replace(self.folder / "failed" / path.name)
                (self.folder / "failed" / f"{path.name}.error").write_text(f"{exc}\n")
                continue
            path.replace(self.folder / "processed" / path.name)
            started += 1
        return started


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Start a case of ``workflow`` at each time ``cron`` matches (UTC)."""

    workflow: str
    cron: str
    fields: Mapping[str, Any]
    name: str

    def due(self, after: datetime, until: datetime) -> list[datetime]:
        """Firing times in ``(after, until]``."""
        times = []
        it = croniter(self.cron, after)
        while (moment := it.get_next(datetime)) <= until:
            times.append(moment)
        return times


def load_schedules(path: Path) -> list[Schedule]:
    """Schedules from ``triggers.yaml``: ``schedules: [{name, workflow, cron, fields}]``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PlaybookError(f"not valid YAML: {exc}", path) from None
    schedules = []
    for i, raw in enumerate(data.get("schedules", []) or []):
        if not isinstance(raw, dict) or "workflow" not in raw or "cron" not in raw:
            raise PlaybookError(f"schedule {i + 1} needs 'workflow' and 'cron'", path)
        if not croniter.is_valid(str(raw["cron"])):
            raise PlaybookError(f"schedule {i + 1}: {raw['cron']!r} is not a cron expression", path)
        schedules.append(
            Schedule(
                workflow=str(raw["workflow"]),
                cron=str(raw["cron"]),
                fields=dict(raw.get("fields") or {}),
                name=str(raw.get("name") or f"schedule-{i + 1}"),
            )
        )
    return schedules


class Scheduler:
    """Fires schedules; the reference of each case names the schedule and the time, so a
    restart that re-fires the same minute starts nothing new."""

    def __init__(self, schedules: list[Schedule], start_case: StartCase, now: datetime) -> None:
        self.schedules = schedules
        self.start_case = start_case
        self.last = now

    def tick(self, now: datetime) -> int:
        started = 0
        for schedule in self.schedules:
            for moment in schedule.due(self.last, now):
                reference = f"{schedule.name}@{moment.isoformat()}"
                self.start_case(schedule.workflow, reference, schedule.fields)
                started += 1
        self.last = now
        return started
