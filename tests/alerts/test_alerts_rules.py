"""Rules files: the example loads; every mistake names the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.errors import RuleFileError
from alerts.rulefile import load_rules
from alerts.rules import RuleKind

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alerts.yaml"


def test_the_example_rule_set_loads_with_every_kind():
    rules = load_rules(EXAMPLE)
    assert {r.kind for r in rules.rules} == set(RuleKind)
    aging = rules.rule("prior-auth-aging")
    assert aging.threshold_for("prior_auth") == 3 * 3600 and aging.threshold_for("intake") is None
    assert aging.for_s == 900 and aging.severity == "page"


GOOD = "  - {name: ok, kind: queue_aging, threshold: 1h}\n"

BAD = [
    # (rules file body, line, fragment of the message)
    ("rules:\n" + GOOD + "  - name: x\n    kind: queue_agin\n    threshold: 1h\n", 4,
     "unknown kind 'queue_agin'"),
    ("rules:\n" + GOOD + "  - name: x\n    kind: queue_aging\n    threshold: 3 hours\n", 5,
     "'threshold': '3 hours' is not a duration"),
    ("rules:\n" + GOOD + "  - name: x\n    kind: dead_man\n    severity: page\n", 3,
     "missing 'threshold'"),
    ("rules:\n" + GOOD + "  - name: x\n    kind: queue_aging\n    threshold: 1h\n    for: soon\n",
     6, "'for': 'soon' is not a duration"),
    ("rules:\n" + GOOD + "  - name: x\n    kind: retry_rate\n    threshold: lots\n", 5,
     "'threshold': 'lots' is not a number"),
    ("rules:\n" + GOOD + "  - name: x\n    kind: queue_aging\n    threshold: 1h\n"
     "    treshold: 2h\n", 6, "unknown key 'treshold'"),
    ("rules:\n" + GOOD + "  - name: x\n    kind: queue_aging\n    threshold: 1h\n"
     "    severity: urgent\n", 6, "severity 'urgent'"),
    ("rules:\n" + GOOD + "  - name: x\n    kind: queue_aging\n    threshold: 1h\n"
     "    labels: {case_id: c1}\n", 6, "label 'case_id' is not allowed"),
    ("rules:\n" + GOOD + "  - name: x\n    kind: queue_aging\n    threshold: 1h\n"
     "    summary: '{patient} waits'\n", 6, "summary uses {patient}"),
    ("rules:\n" + GOOD + "  - name: x\n    kind: queue_aging\n    threshold: 1h\n"
     "    notify: [pager]\n", 6, "'notify' lists receivers"),
    ("rules:\n" + GOOD + "  - name: ok\n    kind: queue_aging\n    threshold: 1h\n", 3,
     "rule name 'ok' is used twice"),
    ("rules:\n" + GOOD + "  - name: x\n    kind: queue_aging\n    measure: items_older_than\n"
     "    threshold: 5\n", 5, "'older_than' goes with measure: items_older_than"),
    ("rules:\n" + GOOD + "  - name: x\n    kind: queue_aging\n    queues: {intake: forever}\n",
     5, "'intake': 'forever' is not a duration"),
    ("receivers:\n  - {name: hook, webhook: {url: ftp://x}}\nrules:\n" + GOOD, 2,
     "webhook needs an http(s) 'url'"),
    ("rules:\n" + GOOD + "  - {name: x, kind: queue_aging, threshold: 1h\n", 4,
     "not valid YAML"),
    ("rules: []\n", 1, "'rules' must be a non-empty list"),
    ("rule:\n" + GOOD, 1, "unknown key 'rule'"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "line", "fragment"), BAD)
def test_bad_rule_files_name_file_and_line(tmp_path: Path, body: str, line: int, fragment: str):
    path = tmp_path / "alerts.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RuleFileError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message, message


def test_a_missing_file_is_one_clear_error(tmp_path: Path):
    with pytest.raises(RuleFileError, match="cannot read the rules file"):
        load_rules(tmp_path / "nope.yaml")
