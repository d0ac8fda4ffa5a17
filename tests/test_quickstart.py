"""scripts/setup-venv.sh, the quick start's installer, against stand-ins for python3 and apt-get.

A stock Debian 12 python3 refuses `pip install` (PEP 668) and cannot make a venv until
python3-venv is installed; this machine has that package, so the stand-ins play the stock
system: a python3 that lacks ensurepip until a fake apt-get "installs" python3-venv. The real
install is checked from a fresh clone by hand (see the issue's closing note)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

FAKE_PYTHON = """#!/bin/bash
echo "python3 $*" >> "$STUBS/log"
case "$*" in
  -V) echo "Python $FAKE_VERSION" ;;
  *"sys.version_info < (3, 11)"*) [ "$FAKE_VERSION" != 3.9.2 ] ;;
  *"import ensurepip, venv; ensurepip.version()"*) [ -e "$STUBS/python3-venv-installed" ] ;;
  "-m venv --clear .venv") mkdir -p .venv/bin && cp "$STUBS/venv-python" .venv/bin/python ;;
  *) exit 99 ;;
esac
"""
# The venv's interpreter: has pip, and records what it is asked to install.
FAKE_VENV_PYTHON = """#!/bin/bash
echo "venv-python $*" >> "$STUBS/log"
"""
FAKE_APT_GET = """#!/bin/bash
echo "apt-get $*" >> "$STUBS/log"
case "$*" in *python3-venv*) touch "$STUBS/python3-venv-installed" ;; esac
"""
# Run as a user, the script reaches apt-get through sudo.
FAKE_SUDO = """#!/bin/bash
exec "$@"
"""


def checkout(tmp_path: Path, version: str = "3.11.2") -> tuple[Path, dict[str, str]]:
    """A copy of the script in an empty checkout, and an environment whose PATH finds the stand-ins first."""
    root, stubs = tmp_path / "clone", tmp_path / "stubs"
    (root / "scripts").mkdir(parents=True)
    stubs.mkdir()
    shutil.copy(REPO / "scripts" / "setup-venv.sh", root / "scripts")
    for name, text in {"python3": FAKE_PYTHON, "venv-python": FAKE_VENV_PYTHON, "apt-get": FAKE_APT_GET,
                       "sudo": FAKE_SUDO}.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "STUBS": str(stubs), "FAKE_VERSION": version, "HOME": str(tmp_path)}
    return root, env


def setup_venv(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(root / "scripts" / "setup-venv.sh"), *args], env=env, cwd=root,
                          capture_output=True, text=True, check=False)


def log(env: dict[str, str]) -> list[str]:
    path = Path(env["STUBS"]) / "log"
    return path.read_text().splitlines() if path.exists() else []


def test_a_python_without_ensurepip_gets_python3_venv_then_a_venv_with_the_package(tmp_path: Path) -> None:
    root, env = checkout(tmp_path)
    done = setup_venv(root, env)
    assert done.returncode == 0, done.stderr
    calls = log(env)
    assert any(c.startswith("apt-get install") and "python3-venv" in c for c in calls)
    assert calls.index("python3 -m venv --clear .venv") > max(i for i, c in enumerate(calls) if c.startswith("apt-get"))
    assert calls[-1] == "venv-python -m pip install --quiet --disable-pip-version-check ."
    assert not any(c.startswith("python3 -m pip") for c in calls)  # never the system Python


def test_a_second_run_reuses_the_venv_and_passes_its_arguments_to_pip(tmp_path: Path) -> None:
    root, env = checkout(tmp_path)
    (Path(env["STUBS"]) / "python3-venv-installed").touch()
    assert setup_venv(root, env).returncode == 0
    (Path(env["STUBS"]) / "log").unlink()
    done = setup_venv(root, env, "-e", ".[test,libvirt]")
    assert done.returncode == 0, done.stderr
    calls = log(env)
    assert not any("venv --clear" in c or c.startswith("apt-get") for c in calls)
    assert calls[-1] == "venv-python -m pip install --quiet --disable-pip-version-check -e .[test,libvirt]"


def test_a_python_older_than_3_11_is_refused_in_one_line_before_anything_is_installed(tmp_path: Path) -> None:
    root, env = checkout(tmp_path, version="3.9.2")
    done = setup_venv(root, env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "3.9.2" in done.stderr and "3.11" in done.stderr
    assert not (root / ".venv").exists()
    assert not any(c.startswith("apt-get") for c in log(env))


def test_the_readme_gives_the_two_quick_start_commands_and_ci_runs_exactly_the_second() -> None:
    readme = (REPO / "README.md").read_text().splitlines()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert "bash scripts/setup-venv.sh && .venv/bin/rebalance plan --scenario scenarios/nova-classic.yaml" in readme
    assert "bash scripts/install-test-deps.sh && .venv/bin/python -m pytest" in readme
    assert "bash scripts/install-test-deps.sh && .venv/bin/python -m pytest" in ci


def test_the_test_setup_installs_into_the_venv_never_the_system_python() -> None:
    script = (REPO / "scripts" / "install-test-deps.sh").read_text()
    assert "bash scripts/setup-venv.sh -e '.[test,libvirt]'" in script
    assert "pip install" not in script
