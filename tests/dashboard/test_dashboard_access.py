"""Roles and sign-in against a real collector with viewer, analyst and admin tokens, and the
workbench against the orchestrator's own authenticated API over a real state file.

The collector decides what a token may read; the dashboard must show each person only the
pages and case details their role allows, ask for a token when the collector wants one, and
keep identified workbench details out of everything but the page that shows them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from streamlit.testing.v1 import AppTest

from dashboard import access, data
from dashboard.access import Role
from tests.dashboard.conftest import TOKENS
from tests.dashboard.test_dashboard_app import run_app, visit

pytestmark = pytest.mark.usefixtures("fresh_caches")

CASE_PAGES = ("case_explorer",)


def pages_of(at: AppTest, page: str) -> bool:
    """Whether ``page`` is in the navigation of the app as last run."""
    try:
        at.switch_page(f"app_pages/{page}.py")
    except ValueError as exc:
        assert "Could not find a navigation page" in str(exc)
        return False
    return True


@pytest.mark.parametrize(
    ("role", "case_explorer", "workbench"),
    [("viewer", False, False), ("analyst", True, False), ("admin", True, True)],
)
def test_roles_decide_the_pages(
    monkeypatch: pytest.MonkeyPatch,
    clinic_collector: str,
    role: str,
    case_explorer: bool,
    workbench: bool,
) -> None:
    at = run_app(monkeypatch, collector=clinic_collector, token=TOKENS[role])
    assert f"role: {role}" in at.sidebar.caption[-1].value
    assert pages_of(at, "overview")
    assert pages_of(at, "case_explorer") is case_explorer
    assert pages_of(at, "workbench") is workbench


def test_a_viewer_sees_no_case_id_anywhere(
    monkeypatch: pytest.MonkeyPatch, clinic_collector: str
) -> None:
    at = run_app(monkeypatch, collector=clinic_collector, token=TOKENS["viewer"])
    for page in ("overview", "process_map", "bottlenecks", "queues", "retries", "bots",
                 "variants", "conformance"):  # fmt: skip
        visit(at, page)
        for frame in at.dataframe:
            assert "case_id" not in frame.value.columns, page
    visit(at, "overview")
    assert at.metric, "a viewer still gets every aggregate figure"
    visit(at, "bottlenecks")
    assert any("analyst" in info.value for info in at.info)


def test_an_analyst_sees_the_cases_behind_a_number(
    monkeypatch: pytest.MonkeyPatch, clinic_collector: str
) -> None:
    at = run_app(monkeypatch, collector=clinic_collector, token=TOKENS["analyst"])
    visit(at, "overview")
    assert "case_id" in at.dataframe[0].value.columns


def test_without_a_token_the_dashboard_asks_for_one(
    monkeypatch: pytest.MonkeyPatch, clinic_collector: str
) -> None:
    at = run_app(monkeypatch, collector=clinic_collector)
    assert at.title[0].value == "Sign in to Baton"
    assert not at.metric
    at.text_input(key="sign_in_token").input("not-a-token-at-all")
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert at.title[0].value == "Sign in to Baton", "a wrong token signs nobody in"
    at.text_input(key="sign_in_token").input(TOKENS["analyst"])
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert "role: analyst" in at.sidebar.caption[-1].value
    assert pages_of(at, "case_explorer")
    assert not at.query_params, "the token never goes in the URL"


def test_user_roles_cap_an_oidc_users_role() -> None:
    assert access.user_role("Ann@x.org", "ann@x.org:admin", Role.ADMIN) is Role.ADMIN
    assert access.user_role("bob@x.org", "ann@x.org:admin", Role.ADMIN) is Role.VIEWER
    assert access.user_role("ann@x.org", "ann@x.org:admin", Role.ANALYST) is Role.ANALYST
    with pytest.raises(Exception, match="email:role"):
        access.parse_user_roles("ann@x.org:boss")


def test_role_probe_of_each_token_reads_no_case(clinic_collector: str) -> None:
    def audit_rows() -> int:
        response = requests.get(
            f"{clinic_collector}/api/v1/audit/reads",
            params={"format": "json", "limit": "100000"},
            headers={"Authorization": f"Bearer {TOKENS['admin']}"},
            timeout=10,
        )
        return len(response.json())

    before = audit_rows()
    for role, token in TOKENS.items():
        assert data.CollectorSource(clinic_collector, token).role() is Role[role.upper()]
    assert audit_rows() == before, "asking who a token is reads no case"


PLAYBOOK = """\
workflow: wf
version: "1"
steps:
  - name: submit_pa
    bot: portal
    queue: q_submit
    retry: {max_attempts: 1}
    next: book
    routes: {approved: book}
  - name: book
    bot: booker
    queue: q_book
"""


class Orchestrator:
    """The orchestrator's own authenticated API (``orchestrator.api``) over a real state file,
    served by uvicorn, with one case escalated to the workbench by a failing portal bot."""

    TOKEN = "orchestrator-token-123"

    def __init__(self, state: Path) -> None:
        import uvicorn

        from baton.pseudonym import Pseudonymizer
        from orchestrator.api import create_api
        from orchestrator.bots import BotRegistry
        from orchestrator.errors import ApplicationException
        from orchestrator.playbook import parse_playbook
        from orchestrator.runtime import Runtime
        from orchestrator.store import StateStore

        def portal(ctx: object) -> str:
            raise ApplicationException("PortalDown")

        bots = BotRegistry()
        bots.register("portal")(portal)
        bots.register("booker")(lambda ctx: "booked")
        self.runtime = Runtime(
            [parse_playbook(PLAYBOOK, "wf.yaml")], bots, StateStore(state), worker_id="w1",
            pseudonymize=Pseudonymizer(b"k" * 16),
        )  # fmt: skip
        fields = {"payer": "Medicare", "site": "Westgate", "payload": {"patient": "Jane Roe"}}
        self.case_id = self.runtime.start_case("wf", "REF-0042", fields)
        while self.runtime.work_once():
            pass
        (self.item,) = self.runtime.escalated()
        config = uvicorn.Config(
            create_api(self.runtime, self.TOKEN), host="127.0.0.1", port=0, log_level="error"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Orchestrator:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the orchestrator API did not start"
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.runtime.store.close()


@pytest.fixture
def orchestrator(tmp_path: Path) -> Iterator[Orchestrator]:
    with Orchestrator(tmp_path / "state.sqlite") as real:
        yield real


def test_workbench_resolves_through_the_orchestrator(
    monkeypatch: pytest.MonkeyPatch, clinic_db: Path, orchestrator: Orchestrator
) -> None:
    item_id = orchestrator.item["item_id"]
    at = run_app(
        monkeypatch,
        db=str(clinic_db),
        orchestrator=orchestrator.url,
        orchestrator_token=orchestrator.TOKEN,
    )
    visit(at, "workbench")
    assert at.metric[0].value == "1"
    assert at.dataframe[0].value["item_id"].tolist() == [item_id]
    assert at.dataframe[0].value["case_id"].tolist() == [orchestrator.case_id]
    assert "REF-0042" not in str(at), "identified details only once an item is opened"
    at.selectbox(key="workbench_item").set_value(item_id).run()
    assert any("REF-0042" in md.value for md in at.markdown)
    assert at.json[0].value == json.dumps({"patient": "Jane Roe"})
    at.text_input(key="workbench_outcome").input("approved")
    at.text_input(key="workbench_person").input("NR")
    next(b for b in at.button if b.label == "Resolve").click().run()
    assert not at.exception and not at.error
    assert at.success[0].value.startswith(f"Item #{item_id} resolved")
    assert not at.query_params
    assert "REF-0042" not in str(at.session_state.to_dict()), "nothing identified is kept"
    # The case resumed where it stopped: off the workbench, on to the route of the outcome.
    assert orchestrator.runtime.escalated() == []
    assert orchestrator.runtime.work_once() == 1
    assert orchestrator.runtime.store.case(orchestrator.case_id)["status"] == "closed"


def test_workbench_with_a_wrong_token_says_so(
    monkeypatch: pytest.MonkeyPatch, clinic_db: Path, orchestrator: Orchestrator
) -> None:
    at = run_app(
        monkeypatch, db=str(clinic_db), orchestrator=orchestrator.url, orchestrator_token="nope1234"
    )
    at.switch_page("app_pages/workbench.py").run()
    assert not at.exception
    assert at.error[0].value == "orchestrator answered 401: missing or wrong bearer token"


def test_workbench_without_an_orchestrator_says_how_to_connect(
    monkeypatch: pytest.MonkeyPatch, clinic_db: Path
) -> None:
    at = visit(run_app(monkeypatch, db=str(clinic_db)), "workbench")
    assert "BATON_DASHBOARD_ORCHESTRATOR" in at.info[0].value


def test_the_alerts_page_is_listed_exactly_when_it_is_installed(
    monkeypatch: pytest.MonkeyPatch, clinic_db: Path
) -> None:
    at = run_app(monkeypatch, db=str(clinic_db))
    installed = (Path(data.__file__).parent / "app_pages" / "alerts.py").is_file()
    assert pages_of(at, "alerts") is installed
    assert pages_of(at, "overview"), "the app works with or without it"
