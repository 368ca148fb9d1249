#!/usr/bin/env bash
# The main job on the embedded example: train a digits CNN in seconds (scikit-learn's bundled
# data, no download), compile it for SOT-MTJ crossbars into build/, and print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
anncc --example digits-cnn --target sot-mtj -o build/ "$@"
echo "open build/report.html (or read build/report.md)"
