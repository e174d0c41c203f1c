"""Query-API roles and the read audit: viewer, analyst, admin; every case-level read recorded."""

from __future__ import annotations

import pyarrow as pa
import pytest
import requests

TOKENS = {
    "dash": {"role": "viewer", "token": "viewer-token-1"},
    "alice": {"role": "analyst", "token": "analyst-token-1"},
    "root": {"role": "admin", "token": "admin-token-1"},
}


def _get(collector, path: str, token: str | None = None, **params: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(collector.url + path, params=params, headers=headers, timeout=10)


@pytest.fixture
def guarded(serve, otlp, case_records):
    collector = serve(tokens=TOKENS)
    response = requests.post(
        f"{collector.url}/v1/logs",
        data=otlp.logs_body(case_records),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert response.status_code == 200  # no ingest token configured: ingest stays open
    return collector


def _audit(collector) -> list[tuple]:
    cur = collector.store.cursor()
    try:
        return cur.execute(
            "SELECT who, role, what, query, rows FROM audit_reads ORDER BY ts"
        ).fetchall()
    finally:
        cur.close()


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/figures", {}),
        ("/api/v1/figures/dfg", {}),
        ("/api/v1/events", {"case_id": "case_a"}),
        ("/api/v1/stats", {}),
        ("/api/v1/audit/reads", {}),
    ],
)
def test_without_a_valid_token_every_read_gets_401(guarded, path, params) -> None:
    for token in (None, "not-a-token", "viewer-token-1x"):
        response = _get(guarded, path, token, **params)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert _audit(guarded) == []


def test_viewer_reads_aggregates_but_not_cases(guarded) -> None:
    dfg = _get(guarded, "/api/v1/figures/dfg", "viewer-token-1")
    assert dfg.status_code == 200
    edges = pa.ipc.open_stream(dfg.content).read_all().select(["source", "target"]).to_pylist()
    assert edges == [{"source": "verify", "target": "submit"}]
    assert _get(guarded, "/api/v1/stats", "viewer-token-1").json()["events"] == 7

    per_case = _get(guarded, "/api/v1/figures/case_durations", "viewer-token-1")
    assert per_case.status_code == 403
    assert "needs analyst" in per_case.json()["error"]
    assert _get(guarded, "/api/v1/events", "viewer-token-1", case_id="case_a").status_code == 403
    assert _audit(guarded) == []  # aggregates are not audited; refused reads read nothing


def test_analyst_reads_an_event_slice_and_the_read_is_audited(guarded) -> None:
    response = _get(guarded, "/api/v1/events", "analyst-token-1", case_id="case_a", limit="4")
    assert response.status_code == 200
    table = pa.ipc.open_stream(response.content).read_all()
    assert table.column("event_id").to_pylist() == ["e1", "e2", "e3", "e4"]  # by (ts, seq)
    assert set(table.column("case_id").to_pylist()) == {"case_a"}

    as_json = _get(guarded, "/api/v1/events", "analyst-token-1", case_id="case_b", format="json")
    (event,) = as_json.json()
    assert event["ts"] == "2026-03-02T09:40:00"
    assert event["attributes"] == {"baton.item_id": "item-case_b"}

    assert _get(guarded, "/api/v1/figures/case_durations", "analyst-token-1").status_code == 200
    assert _audit(guarded) == [
        ("alice", "analyst", "events", '{"case_id": "case_a", "limit": "4"}', 4),
        ("alice", "analyst", "events", '{"case_id": "case_b", "limit": "1000"}', 1),
        ("alice", "analyst", "figure case_durations", "{}", 2),
    ]
    assert _get(guarded, "/api/v1/audit/reads", "analyst-token-1").status_code == 403


def test_admin_reads_the_audit(guarded) -> None:
    _get(guarded, "/api/v1/events", "analyst-token-1", case_id="case_a")
    reads = _get(guarded, "/api/v1/audit/reads", "admin-token-1").json()
    assert [(r["who"], r["what"]) for r in reads] == [("alice", "events")]


def test_admin_token_may_send_when_an_ingest_token_is_set(serve, otlp, case_records) -> None:
    collector = serve(tokens=TOKENS, ingest_token="ingest-token-1")
    for token, status in (
        ("admin-token-1", 200),
        ("analyst-token-1", 401),
        ("ingest-token-1", 200),
    ):
        response = requests.post(
            f"{collector.url}/v1/logs",
            data=otlp.logs_body(case_records),
            headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == status


def test_without_tokens_the_api_is_open_and_case_reads_are_audited_as_anonymous(
    collector, otlp, case_records
) -> None:
    requests.post(
        f"{collector.url}/v1/logs",
        data=otlp.logs_body(case_records),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert _get(collector, "/api/v1/figures/case_durations", format="json").status_code == 200
    assert _get(collector, "/api/v1/events").status_code == 200
    assert [(who, what) for who, _, what, _, _ in _audit(collector)] == [
        ("anonymous", "figure case_durations"),
        ("anonymous", "events"),
    ]


@pytest.mark.parametrize("query", ["limit=0", "limit=many", "colour=red", "format=xml"])
def test_bad_event_query_gets_400(collector, query) -> None:
    response = requests.get(f"{collector.url}/api/v1/events?{query}", timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]


def test_whoami_names_each_tokens_role_and_reads_nothing(guarded) -> None:
    for name, grant in TOKENS.items():
        answer = _get(guarded, "/api/v1/whoami", grant["token"])
        assert answer.status_code == 200
        assert answer.json() == {"name": name, "role": grant["role"]}
    for token in (None, "not-a-token"):
        assert _get(guarded, "/api/v1/whoami", token).status_code == 401
    assert _audit(guarded) == []
