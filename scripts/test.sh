#!/usr/bin/env bash
# Install what the tests need, then run the whole suite (unit, FileCheck, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
python3 -m pytest -q -ra "$@"
