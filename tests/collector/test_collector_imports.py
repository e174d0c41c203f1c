"""Imports into a file a running collector holds go through that collector, all or nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests

from collector.audit import verify
from collector.imports_api import options_from_query, options_to_query
from mining.readers import ColumnMapping, ImportOptions
from tests.conftest import baton_cmd, child_env

ROOT = Path(__file__).resolve().parents[2]
CLINIC = ROOT / "sample_logs" / "clinic.parquet"
TOKENS = {
    "alice": {"role": "analyst", "token": "analyst-token-1"},
    "root": {"role": "admin", "token": "admin-token-1"},
}


def _events(collector) -> int:
    headers = {"Authorization": "Bearer admin-token-1"}
    response = requests.get(f"{collector.url}/api/v1/stats", headers=headers, timeout=10)
    assert response.status_code == 200
    return int(response.json()["events"])


def _post(collector, path: Path, token: str | None, **query: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{collector.url}/api/v1/imports",
        params={"filename": path.name, **query},
        data=path.read_bytes(),
        headers=headers,
        timeout=120,
    )


def test_admins_import_through_the_endpoint_once(serve, otlp, case_records) -> None:
    collector = serve(tokens=TOKENS)
    assert _post(collector, CLINIC, None).status_code == 401
    assert _post(collector, CLINIC, "analyst-token-1").status_code == 403
    assert _events(collector) == 0

    first = _post(collector, CLINIC, "admin-token-1")
    assert first.status_code == 200, first.text
    stored = _events(collector)
    assert first.json()["inserted"] == stored > 0
    again = _post(collector, CLINIC, "admin-token-1")
    assert again.json()["inserted"] == 0
    assert _events(collector) == stored

    # Telemetry written after the import chains onto it: the store reloaded its audit head.
    sent = requests.post(
        f"{collector.url}/v1/logs",
        data=otlp.logs_body(case_records),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert sent.status_code == 200
    assert _events(collector) > stored
    cur = collector.store.cursor()
    try:
        assert verify(cur, None).intact
    finally:
        cur.close()


def test_a_bad_file_imports_nothing_and_says_why(serve, tmp_path: Path) -> None:
    collector = serve()
    bad = tmp_path / "broken.xes"
    bad.write_text("<log><trace><event><string key='concept:name' value='a'/></event>")
    response = _post(collector, bad, None)
    assert response.status_code == 400
    assert "broken.xes" in response.json()["error"]
    assert _post(collector, CLINIC, None, colour="red").status_code == 400
    assert _post(collector, CLINIC, None, filename="").status_code == 400
    assert _events(collector) == 0


def test_baton_import_on_a_held_file_goes_through_its_collector(
    start_collector, tmp_path: Path
) -> None:
    running = start_collector()
    done = subprocess.run(
        baton_cmd("import", str(CLINIC), "--db", str(running.db)),
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "events" in done.stdout
    figure = requests.get(f"{running.url}/api/v1/figures/overview?format=json", timeout=30)
    assert figure.json()[0]["cases"] > 0

    refused = subprocess.run(
        baton_cmd("import", str(tmp_path / "missing.xes"), "--db", str(running.db)),
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ")
    assert "missing.xes" in refused.stderr


@pytest.mark.parametrize(
    "options",
    [
        ImportOptions(),
        ImportOptions(workflow="intake", separator=";", object_type="order"),
        ImportOptions(columns=ColumnMapping(case="Case ID", start="begin"), timestamp_format="%d"),
    ],
)
def test_options_travel_as_the_cli_names_them(options: ImportOptions) -> None:
    assert options_from_query(options_to_query(options)) == options
