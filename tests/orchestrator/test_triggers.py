from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.errors import PlaybookError
from orchestrator.triggers import FolderWatcher, Scheduler, load_schedules


def test_schedules_fire_once_per_match_and_name_their_reference(tmp_path: Path):
    path = tmp_path / "triggers.yaml"
    path.write_text(
        "schedules:\n"
        "  - {name: nightly-claims, workflow: claims, cron: '0 2 * * *', fields: {site: Main}}\n"
        "  - {workflow: intake, cron: '*/30 * * * *'}\n"
    )
    started: list[tuple[str, str, dict[str, object]]] = []
    t0 = datetime(2026, 3, 2, 1, 50, tzinfo=UTC)
    scheduler = Scheduler(
        load_schedules(path), lambda w, r, f: started.append((w, r, dict(f))) or r, t0
    )
    assert scheduler.tick(t0 + timedelta(minutes=5)) == 0
    assert scheduler.tick(t0 + timedelta(minutes=45)) == 3  # 02:00 claims, 02:00 and 02:30 intake
    assert started[0] == ("claims", "nightly-claims@2026-03-02T02:00:00+00:00", {"site": "Main"})
    assert [w for w, _, _ in started].count("intake") == 2
    assert scheduler.tick(t0 + timedelta(minutes=45)) == 0  # the same moment never fires twice


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("schedules:\n  - {workflow: x}\n", "needs 'workflow' and 'cron'"),
        ("schedules:\n  - {workflow: x, cron: 'every day'}\n", "not a cron expression"),
        ("schedules: [\n", "not valid YAML"),
    ],
)
def test_bad_trigger_files_are_clear_errors(tmp_path: Path, text: str, problem: str):
    path = tmp_path / "triggers.yaml"
    path.write_text(text)
    with pytest.raises(PlaybookError, match=problem):
        load_schedules(path)


def test_folder_watcher_starts_cases_and_sets_bad_files_aside(tmp_path: Path):
    started: list[tuple[str, str]] = []

    def start(workflow: str, reference: str, fields: object) -> str:
        if reference == "boom":
            raise ValueError("unknown workflow")
        started.append((workflow, reference))
        return reference

    watcher = FolderWatcher(tmp_path, start, "referral")
    (tmp_path / "REF-1.json").write_text(json.dumps({"payer": "A"}))
    (tmp_path / "x.json").write_text(json.dumps({"workflow": "claims", "reference": "C-9"}))
    (tmp_path / "boom.json").write_text(json.dumps({}))
    (tmp_path / "list.json").write_text("[1, 2]")
    assert watcher.poll() == 2
    assert sorted(started) == [("claims", "C-9"), ("referral", "REF-1")]
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == ["REF-1.json", "x.json"]
    assert "unknown workflow" in (tmp_path / "failed" / "boom.json.error").read_text()
    assert (tmp_path / "failed" / "list.json.error").exists()
    assert watcher.poll() == 0
