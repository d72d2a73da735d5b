#!/usr/bin/env bash
# The one-command demo: a virtualenv, the package, 40 synthetic meter photos, and the embedded
# run (no broker, no server) into a SQLite file, ending with a printed summary.
#
#   bash infra/demo.sh            # from the repository root (or anywhere: it cds there)
#   SAMPLES=120 bash infra/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
SAMPLES="${SAMPLES:-40}"

if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        # Debian's python3 ships venv separately.
        echo "installing python3-venv (needs root)" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
        rm -rf .venv && "$PYTHON" -m venv .venv
    fi
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .

export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
.venv/bin/meter-ocr synth samples --count "$SAMPLES" --seed 7
.venv/bin/meter-ocr run samples
echo
echo "Next: .venv/bin/meter-ocr results --format table | head -20"
echo "      .venv/bin/meter-ocr eval samples/labels.csv"
