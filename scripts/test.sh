#!/usr/bin/env bash
# The README's test command: install gozero with its test extras into .venv, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[dev,ray,research]"
.venv/bin/python -m pytest -q "$@"
