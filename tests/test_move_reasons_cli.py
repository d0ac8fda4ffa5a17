"""The reason a rule gives a move reaches the operator: `plan` prints it, plan.json carries it,
`explain` says it, and the HTML report shows it escaped. A reason read back from a plan file is
untrusted: escaped in HTML, control characters kept off the terminal, bounded by the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from planner.formats.plan_io import load_plan
from rebalance.cli import cli
from rebalance.html_report import render_html

pytestmark = pytest.mark.solver

# web-1 and web-2 share b, which the rule forbids; a holds the ballast (the peak), so the only
# reason to move is the rule.
SCENARIO = """\
description: two web servers on one host, against their anti-affinity rule
cluster:
  defaults: {uri: "qemu+tcp://%s/system"}
  hosts:
    - {name: a, cpus: 8, memory_mib: 16896}
    - {name: b, cpus: 8, memory_mib: 16896}
    - {name: c, cpus: 8, memory_mib: 16896}
  vms:
    - {name: ballast, host: a, vcpus: 2, memory_mib: 6144, cpu_load_millicores: 2000}
    - {name: web-1, host: b, vcpus: 1, memory_mib: 1024, cpu_load_millicores: 100, labels: {app: web}}
    - {name: web-2, host: b, vcpus: 1, memory_mib: 1024, cpu_load_millicores: 100, labels: {app: web}}
policy:
  goal: spread
  solver: {time_limit_s: 5, seed: 1}
  rules:
    anti_affinity: [{name: webs-apart, vms: {labels: {app: web}}}]
    pin: [{name: keep-web-1, vms: [web-1]}]
"""
REASON = "because anti-affinity 'webs-apart' had web-1 and web-2 on b (web-1 cannot move: pinned by rule 'keep-web-1')"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reasons")
    (folder / "webs.yaml").write_text(SCENARIO)
    result = run("plan", "--scenario", str(folder / "webs.yaml"), "-o", str(folder / "plan.json"))
    assert result.exit_code == 0, result.output
    (folder / "printed.txt").write_text(result.output)
    return folder / "plan.json"


def test_plan_prints_the_rule_in_the_move_table(plan_file: Path) -> None:
    printed = (plan_file.parent / "printed.txt").read_text()
    row = next(line for line in printed.splitlines() if line.startswith("1  web-2"))
    assert row.endswith(REASON)
    assert json.loads(plan_file.read_text())["moves"][0]["reason"] == REASON


def test_explain_says_the_vm_moved_because_of_the_rule(plan_file: Path) -> None:
    result = run("explain", str(plan_file), "web-2")
    assert result.exit_code == 0, result.output
    destination = load_plan(plan_file).moves[0].destination
    assert result.output.splitlines()[0] == f"web-2 moves b → {destination} (1.0 GiB) {REASON}."


def test_the_html_report_shows_the_reason_escaped(plan_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    assert run("show", str(plan_file), "--html", str(report)).exit_code == 0
    html = report.read_text(encoding="utf-8")
    assert "<td>because anti-affinity &#x27;webs-apart&#x27; had web-1 and web-2 on b (web-1 cannot move: " \
           "pinned by rule &#x27;keep-web-1&#x27;)</td>" in html


def hostile(plan_file: Path, reason: str) -> Path:
    raw = json.loads(plan_file.read_text())
    raw["moves"][0]["reason"] = reason
    path = plan_file.parent / "hostile.json"
    path.write_text(json.dumps(raw))
    return path


def test_a_reason_read_back_is_escaped_in_html_and_kept_off_the_terminal(plan_file: Path) -> None:
    path = hostile(plan_file, "<script>alert(1)</script>\x1b[2J & co")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\x1b[2J &amp; co" in render_html(load_plan(path))
    for args in (("show", str(path)), ("explain", str(path), "web-2")):
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "<script>alert(1)</script>?[2J & co" in result.output


def test_a_reason_longer_than_the_schema_allows_is_refused(plan_file: Path) -> None:
    result = run("show", str(hostile(plan_file, "x" * 4097)))
    assert result.exit_code == 2
    assert "moves[0].reason: must be at most 4096 characters" in result.stderr
