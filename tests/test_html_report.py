"""The HTML report: self-contained (nothing from the network), and it renders in headless Chromium
with no console error and the chart in the DOM.

Chromium is installed by scripts/install-test-deps.sh; missing, the test fails (never skips).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.formats.plan_io import write_plan
from planner.domain.policy import Goal
from rebalance.cli import cli
from rebalance.html_report import render_html
from tests.builders import cluster, host, plan_for, policy, vm

pytestmark = pytest.mark.solver

def spread_plan_file(tmp_path: Path) -> Path:
    clu = cluster([host("a"), host("b"), host("c")],
                  [vm("web1", "a", load=3000), vm("web2", "a", load=3000), vm("db", "b", load=200)])
    path = tmp_path / "plan.json"
    write_plan(plan_for(clu, policy(Goal.SPREAD)), path)
    return path


def test_show_html_writes_one_self_contained_file(tmp_path: Path) -> None:
    path, html = spread_plan_file(tmp_path), tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["show", str(path), "--html", str(html)])
    assert result.exit_code == 0, result.output
    text = html.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing loaded from anywhere
    assert "<script" not in text and "http" not in text
    assert 'id="utilisation-chart"' in text and 'id="schedule-graph"' in text
    assert text.count('class="cpu-after"') == 3  # one bar per host
    assert "web1" in text


def test_text_is_escaped() -> None:
    clu = cluster([host("a"), host("b")], [vm("v1", "a", load=4000), vm("v2", "a", load=4000)])
    plan = plan_for(clu, policy(Goal.SPREAD))
    plan = type(plan)(**{**plan.__dict__, "notes": ("<b>bold</b> & co",)})
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in render_html(plan)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("headless Chromium is needed: run `bash scripts/install-test-deps.sh` as root")
    return found


def render(page: Path) -> tuple[str, list[str]]:
    """The DOM after loading `page` in headless Chromium, and its console messages."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
             "--disable-extensions", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_the_console_check_sees_a_broken_page(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><script>missing();</script></body></html>")
    _, console = render(broken)
    assert any("missing is not defined" in line for line in console)


def test_the_report_renders_in_headless_chromium_without_errors(tmp_path: Path) -> None:
    path, html = spread_plan_file(tmp_path), tmp_path / "report.html"
    assert CliRunner().invoke(cli, ["show", str(path), "--html", str(html)]).exit_code == 0
    dom, console = render(html)
    assert 'id="utilisation-chart"' in dom and dom.count('class="cpu-after"') == 3 and 'id="schedule-graph"' in dom
    assert console == []
