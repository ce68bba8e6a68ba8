#!/usr/bin/env bash
# Install the runtime requirements and start the app with the bundled examples.
# Extra arguments go to app.py, e.g. `bash scripts/app.sh --preset tiny` (offline, random weights).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
exec .venv/bin/python app.py "$@"
