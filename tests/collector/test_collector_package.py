"""The package surface: exported names, errors, settings, and the ``serve`` command."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import collector
from baton.errors import BatonError, ConfigError
from collector import (
    CollectorError,
    CollectorSettings,
    DatabaseLocked,
    InvalidPayload,
    PayloadTooLarge,
    Role,
    Store,
    UnsupportedMediaType,
    load_settings,
    open_readonly,
)

_SERVE = "from collector.cli import app; app()"


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(collector).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("collector.")
    }
    assert collector.__all__ == sorted(collector.__all__)
    assert set(collector.__all__) == public


@pytest.mark.parametrize(
    "error",
    [
        InvalidPayload,
        PayloadTooLarge,
        UnsupportedMediaType,
        DatabaseLocked,
        collector.Unauthorized,
        collector.Forbidden,
        collector.Overloaded,
    ],
)
def test_every_error_is_a_collector_error_and_a_baton_error(error) -> None:
    assert issubclass(error, CollectorError)
    assert issubclass(error, BatonError)


def test_settings_come_from_overrides_then_environment(monkeypatch) -> None:
    monkeypatch.setenv("BATON_COLLECTOR_PORT", "9000")
    monkeypatch.setenv("BATON_COLLECTOR_DB", "/data/baton.duckdb")
    settings = load_settings(port=None, host="0.0.0.0")
    assert settings == CollectorSettings(db=Path("/data/baton.duckdb"), host="0.0.0.0", port=9000)
    assert settings.max_body_bytes == 20 * 1024 * 1024
    assert load_settings(port=1234).port == 1234


def test_tokens_come_from_a_toml_table_or_the_environment(monkeypatch, tmp_path: Path) -> None:
    config = tmp_path / "baton.toml"
    config.write_text(
        '[collector.tokens]\ndash = { role = "viewer", token = "viewer-token-1" }\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("BATON_CONFIG", str(config))
    (grant,) = load_settings().tokens
    assert (grant.name, grant.role, grant.token) == ("dash", Role.VIEWER, "viewer-token-1")
    assert "viewer-token-1" not in repr(grant)  # never printed in logs or errors

    monkeypatch.setenv("BATON_COLLECTOR_TOKENS", "a:analyst:analyst-token,b:admin:admin-token")
    assert [(g.name, g.role) for g in load_settings().tokens] == [
        ("a", Role.ANALYST),
        ("b", Role.ADMIN),
    ]


@pytest.mark.parametrize(
    ("tokens", "message"),
    [("a:boss:long-enough-token", "not one of viewer"), ("a:viewer:short", "at least 8")],
)
def test_bad_token_is_a_config_error(monkeypatch, tokens, message) -> None:
    monkeypatch.setenv("BATON_COLLECTOR_TOKENS", tokens)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_bad_setting_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setenv("BATON_COLLECTOR_PORT", "many")
    with pytest.raises(ConfigError, match="port"):
        load_settings()


def test_serve_owns_the_file_until_interrupted(tmp_path: Path, otlp, case_records) -> None:
    db = tmp_path / "state" / "baton.duckdb"
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVE, "serve", "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().strip()
        assert line.startswith("collector listening on http://127.0.0.1:")
        assert line.endswith(f"(db: {db})")
        url = line.split()[3]

        assert requests.get(f"{url}/healthz", timeout=10).text == "ok"
        assert requests.get(f"{url}/readyz", timeout=10).json()["ready"] is True
        response = requests.post(
            f"{url}/v1/logs",
            data=otlp.logs_body(case_records),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert response.status_code == 200
        with pytest.raises(DatabaseLocked, match="held by another process") as info:
            Store.open(db)
        # The message says where the collector holding the file answers.
        assert info.value.url == url
        assert f"{url}/api/v1/events" in str(info.value)
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=20)
    # uvicorn re-raises the signal after draining; the store was closed before that.
    assert server.returncode == -signal.SIGTERM, stderr
    assert not db.with_name(db.name + ".wal").exists()
    assert not db.with_name(db.name + ".collector.json").exists()

    con = open_readonly(db)
    try:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (7,)
    finally:
        con.close()
