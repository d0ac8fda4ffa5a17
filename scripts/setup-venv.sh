#!/bin/bash
# Installs rebalance into ./.venv, a virtual environment made with the python3 on PATH (3.11 or
# newer). Debian 12 marks its system Python externally managed (PEP 668), so `pip install` goes
# into a venv, never into the system Python.
#
#   bash scripts/setup-venv.sh                       # pip install .   (the quick start)
#   bash scripts/setup-venv.sh -e '.[test,libvirt]'  # any pip install arguments (the test setup)
#
# Idempotent: an existing working .venv is reused and only the install is repeated. Root is needed
# only when python3 cannot create a venv (Debian without python3-venv): then the script installs
# python3-venv with apt-get, through sudo when not run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv

fail() { echo "setup-venv: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else fail "'$*' needs root: run this script as root or install sudo"
    fi
}

check_python() {
    command -v python3 >/dev/null || fail "no python3 on PATH; rebalance needs Python 3.11 or newer"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        fail "$(command -v python3) is $(python3 -V 2>&1); rebalance needs Python 3.11 or newer"
}

# Debian's python3 has the venv module but not ensurepip, without which `python3 -m venv` stops
# half-way; ensurepip and the pip wheel it installs ship in python3-venv. version() reads that
# wheel, and fails on a bare ensurepip directory, which Python would import as a namespace package.
can_make_venv() {
    python3 -c 'import ensurepip, venv; ensurepip.version()' 2>/dev/null
}

ensure_venv_support() {
    can_make_venv && return
    command -v apt-get >/dev/null || fail "$(command -v python3) cannot create a virtual environment (no ensurepip): install your distribution's venv package"
    echo "setup-venv: installing python3-venv (python3 -m venv needs ensurepip)" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    can_make_venv ||
        fail "python3-venv did not give $(command -v python3) ensurepip: install python$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
}

# A .venv whose interpreter is gone (its base Python was removed) or that lacks pip is rebuilt.
venv_works() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import pip' 2>/dev/null
}

check_python
if ! venv_works; then
    ensure_venv_support
    python3 -m venv --clear "$VENV"
fi
if [ "$#" -eq 0 ]; then set -- .; fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
