"""The maintenance hook with real processes: words split without a shell, {host} filled in,
exit codes, the log (0600, appended), the timeout killing the hook's whole process group."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from operations import maintenance_hook
from operations.maintenance_hook import HookResult, hook_argv, run_hook
from planner.domain.errors import InputError, RebalanceError


def _alive(pid: int) -> bool:
    """Running: a zombie waiting to be reaped has already stopped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- the template ---------------------------------------------------------------------------------------

def test_the_host_is_filled_in_inside_words_and_quotes_group() -> None:
    assert hook_argv("ssh root@{host} 'apt-get -y upgrade && reboot'", "node1") == (
        "ssh", "root@node1", "apt-get -y upgrade && reboot")
    assert hook_argv('ipmitool -H "{host}.bmc" power cycle --tag={host}', "n2") == (
        "ipmitool", "-H", "n2.bmc", "power", "cycle", "--tag=n2")


def test_a_template_without_the_host_is_allowed() -> None:
    assert hook_argv("/usr/local/bin/upgrade-me", "node1") == ("/usr/local/bin/upgrade-me",)


@pytest.mark.parametrize(("template", "message"), [("ssh root@{host} 'reboot", "cannot split"),
                                                   ("", "is empty"), ("   ", "is empty")])
def test_a_template_that_is_not_a_command_is_bad_input(template: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        hook_argv(template, "node1")
    assert caught.value.field == "--hook"


# -- running it ---------------------------------------------------------------------------------------

def test_no_shell_reads_the_words(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    log = tmp_path / "hook.log"
    argv = hook_argv(f"echo {{host}} ; touch {canary} $HOME *", "node1")
    result = run_hook(argv, log, 10.0)
    assert result.ok() and result.tail == f"node1 ; touch {canary} $HOME *"
    assert not canary.exists()


def test_exit_codes_and_the_tail(tmp_path: Path) -> None:
    log = tmp_path / "hook.log"
    assert run_hook(("true",), log, 10.0).returncode == 0
    failed = run_hook(("false",), log, 10.0)
    assert failed.returncode == 1 and not failed.ok()
    noisy = run_hook(("sh", "-c", "seq 1 100; echo oops >&2; exit 3"), log, 10.0)
    assert noisy.returncode == 3 and not noisy.ok()
    assert noisy.tail.splitlines() == [str(n) for n in range(82, 101)] + ["oops"]  # stderr too, last 20 lines


def test_the_environment_carries_the_host_and_stdin_is_empty(tmp_path: Path) -> None:
    script = 'if read line; then echo "read $line"; else echo eof; fi; echo "$REBALANCE_HOST $EXTRA $HOME"'
    result = run_hook(("sh", "-c", script), tmp_path / "hook.log", 10.0, {"EXTRA": "x1"}, host="node7")
    assert result.tail == f"eof\nnode7 x1 {os.environ['HOME']}"


def test_the_log_is_private_and_appended_with_a_line_per_run(tmp_path: Path) -> None:
    log = tmp_path / "hook.log"
    run_hook(("echo", "first"), log, 10.0)
    run_hook(("sh", "-c", "echo second; exit 4"), log, 10.0)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    lines = log.read_text().splitlines()
    assert lines[0].startswith("=== ") and lines[0].endswith(" echo first")
    assert lines[1] == "first" and lines[2].startswith("=== exit 0 after ")
    assert lines[4] == "second" and lines[5].startswith("=== exit 4 after ")


def test_an_existing_log_is_made_private_and_a_symlink_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "hook.log"
    log.write_text("earlier\n")
    log.chmod(0o644)
    run_hook(("true",), log, 10.0)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and log.read_text().startswith("earlier\n")

    link = tmp_path / "link.log"
    link.symlink_to(tmp_path / "elsewhere.log")
    with pytest.raises(RebalanceError, match="cannot open the hook log"):
        run_hook(("true",), link, 10.0)
    assert not (tmp_path / "elsewhere.log").exists()
    with pytest.raises(RebalanceError, match="cannot open the hook log"):
        run_hook(("true",), tmp_path / "missing" / "hook.log", 10.0)


def test_a_missing_executable_is_127_with_the_error_never_a_traceback(tmp_path: Path) -> None:
    log = tmp_path / "hook.log"
    result = run_hook(("/nonexistent/upgrade-me", "node1"), log, 10.0)
    assert result.returncode == 127 and not result.ok()
    assert result.tail == "cannot run /nonexistent/upgrade-me: No such file or directory"
    assert "cannot run /nonexistent/upgrade-me" in log.read_text()
    assert run_hook((str(tmp_path),), log, 10.0).returncode == 126  # a directory is not a program


def test_the_timeout_kills_the_whole_group_grandchild_included(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    began = time.monotonic()
    result = run_hook(("sh", "-c", f'echo started; sleep 60 & echo $! > {pid_file}; wait'), tmp_path / "hook.log", 1.0)
    assert result.returncode is None and not result.ok() and result.tail == "started"
    assert 1.0 <= result.seconds < 1.0 + maintenance_hook.KILL_GRACE_S and time.monotonic() - began < 5.0
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)
    assert "=== killed at the timeout after " in (tmp_path / "hook.log").read_text()


def test_a_group_that_ignores_sigterm_gets_sigkill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maintenance_hook, "KILL_GRACE_S", 0.5)
    pid_file = tmp_path / "grandchild.pid"
    script = f'trap "" TERM; sleep 60 & echo $! > {pid_file}; wait; wait'
    result = run_hook(("sh", "-c", script), tmp_path / "hook.log", 0.5)
    assert result == HookResult(None, result.seconds, "")
    assert result.seconds < 3.0
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_a_hook_that_exits_leaves_its_background_children_alone(tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    result = run_hook(("sh", "-c", f"sleep 30 > /dev/null 2>&1 & echo $! > {pid_file}"), tmp_path / "hook.log", 10.0)
    background = int(pid_file.read_text())
    try:
        assert result.ok() and result.seconds < 5.0  # not held up waiting for the child
        assert _alive(background)  # e.g. a `reboot &` that must be allowed to happen
    finally:
        os.kill(background, 9)
