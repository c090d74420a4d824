#!/usr/bin/env bash
# The project's test command: installs the test dependencies, lints, runs every test.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install --quiet -r requirements-dev.txt
# The browser test drives Debian's chromium (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium not found: the browser test will be skipped (install Debian's chromium)" >&2
  fi
fi
python -m ruff check .
python -m ruff format --check .
python -m pytest "$@"
