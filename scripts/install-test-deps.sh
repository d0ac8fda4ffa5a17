#!/bin/bash
# Installs everything the test suite needs on a fresh Debian 12 machine (root, Python 3.11):
# the package with its test extras. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
