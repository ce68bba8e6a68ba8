#!/usr/bin/env bash
# Install what the tests need (Python packages, and Debian's Chromium for the browser test when
# we are root with apt), check the import layers, and run the suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "chromium could not be installed: the browser test will skip"
fi
.venv/bin/lint-imports --no-cache  # layers point down, no import circles (pyproject.toml)
exec .venv/bin/python -m pytest "$@"
