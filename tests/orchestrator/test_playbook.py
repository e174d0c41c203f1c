from pathlib import Path

import pytest

from orchestrator.clinic import WORKFLOWS, clinic_bots, clinic_playbooks
from orchestrator.errors import PlaybookError
from orchestrator.playbook import (
    RetryPolicy,
    load_playbook,
    parse_playbook,
    validate,
    validate_handoffs,
)

GOOD = """\
workflow: demo
version: "2"
steps:
  - name: a
    bot: bot_a
    queue: qa
    retry: {max_attempts: 2, initial_interval: 30s}
    next: b
    routes:
      skip: end
  - name: b
    bot: bot_b
"""


def test_the_clinic_playbooks_are_valid_and_hand_off_to_each_other():
    playbooks = clinic_playbooks()
    for playbook in playbooks:
        validate(playbook, bots=set(clinic_bots()))
    validate_handoffs(playbooks)
    assert tuple(p.workflow for p in playbooks) == WORKFLOWS
    assert playbooks[0].first.name == "receive_referral"
    prior_auth = playbooks[2]
    assert prior_auth.step("check_pa_status").delay_s == 4 * 3600
    assert prior_auth.step("check_pa_status").route("pending") == "check_pa_status"
    assert prior_auth.step("check_pa_required").route("not_required") == "@scheduling"


def test_handoff_to_an_unknown_workflow_is_reported():
    playbook = parse_playbook(GOOD.replace("skip: end", 'skip: "@nowhere"'), "good.yaml")
    with pytest.raises(PlaybookError, match="unknown workflow 'nowhere'"):
        validate_handoffs([playbook])


def test_good_playbook_parses_fields():
    playbook = parse_playbook(GOOD, "good.yaml")
    a = playbook.step("a")
    assert (playbook.workflow, playbook.version) == ("demo", "2")
    assert a.retry.max_attempts == 2 and a.retry.initial_interval_s == 30
    assert a.route("skip") == "end" and a.route("other") == "b" and a.route(None) == "b"
    assert playbook.step("b").queue == "b"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (GOOD.replace("next: b", "next: c"), 4, "routes to unknown step 'c'"),
        (GOOD.replace("skip: end", "skip: nowhere"), 4, "unknown step 'nowhere'"),
        (
            GOOD.replace("next: b\n", "next: end\n").replace("skip: end", "skip: end"),
            11,
            "'b' is unreachable",
        ),
        (
            GOOD.replace("    bot: bot_b\n", "    bot: bot_b\n    next: a\n").replace(
                "skip: end", "skip: a"
            ),
            4,
            "loop with no exit",
        ),
        (GOOD.replace("max_attempts: 2", "max_attempts: -1"), 7, "'max_attempts' must be"),
        (GOOD.replace("max_attempts: 2", "max_attempts: 5000"), 7, "between 1 and 100"),
        (GOOD.replace("initial_interval: 30s", "initial_interval: -5s"), 7, "negative"),
        (GOOD.replace("initial_interval: 30s", "initial_interval: 30y"), 7, "not a duration"),
        (GOOD.replace("initial_interval: 30s", "maximum_interval: 30d"), 7, "more than 7 days"),
        (
            GOOD.replace("initial_interval: 30s", "backoff_coefficient: 0.5"),
            7,
            "'backoff_coefficient'",
        ),
        (
            GOOD.replace("    queue: qa\n", "    queue: qa\n    colour: red\n"),
            7,
            "unknown step setting 'colour'",
        ),
        (GOOD.replace("  - name: b\n", "  - name: a\n"), 11, "defined twice"),
        (GOOD.replace("    bot: bot_b\n", ""), 11, "missing 'bot'"),
        ("workflow: x\nsteps: []\n", 2, "non-empty list"),
        ("workflow: x\nsteps:\n  - name: a\n    bot: b\n   bad: indent\n", 5, "not valid YAML"),
    ],
)
def test_bad_playbooks_name_file_line_and_problem(text: str, line: int, problem: str):
    with pytest.raises(PlaybookError) as info:
        parse_playbook(text, "bad.yaml")
    assert problem in str(info.value)
    assert info.value.path == "bad.yaml"
    assert info.value.line == line, str(info.value)
    assert str(info.value).startswith(f"bad.yaml:{line}: ")


def test_unknown_bot_is_reported_with_the_known_ones():
    playbook = parse_playbook(GOOD, "good.yaml")
    with pytest.raises(PlaybookError, match="unknown bot 'bot_b' \\(known: bot_a\\)"):
        validate(playbook, bots={"bot_a"})


def test_missing_file_is_a_playbook_error(tmp_path: Path):
    with pytest.raises(PlaybookError, match="no such file"):
        load_playbook(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("attempt", "expected"), [(2, 60.0), (3, 120.0), (4, 240.0), (5, 300.0), (9, 300.0)]
)
def test_backoff_grows_by_the_coefficient_up_to_the_maximum(attempt: int, expected: float):
    policy = RetryPolicy(initial_interval_s=60, backoff_coefficient=2, maximum_interval_s=300)
    assert policy.delay_before(attempt) == expected
