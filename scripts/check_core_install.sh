#!/usr/bin/env bash
# The core install (`pip install destila`, no extras) in an empty virtual environment: no extra comes along, and
# `destila --help`, `score`, `evaluate` and `answer` work on the embedded sample with a tiny random model; `serve`
# and `export` stop with the extra to install.
#
#   bash scripts/check_core_install.sh                 # torch from TORCH_SPEC (default torch==2.13.0), then the core
#   PYTHON=python3.12 TORCH_SPEC=torch bash scripts/check_core_install.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/destila-core.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
BIN="$WORK/venv/bin"
started=$SECONDS

step() { printf '\n== %s (%ss)\n' "$1" "$((SECONDS - started))"; }

step "empty virtual environment"
"$PYTHON" -m venv "$WORK/venv"
"$BIN/python" -m pip list --format=freeze

step "$TORCH_SPEC, then the core install of $ROOT"
"$BIN/pip" install -q "$TORCH_SPEC"
"$BIN/pip" install -q "$ROOT"
cd "$WORK"  # away from the source tree: the installed package is the one run

step "no extra came along"
# huggingface_hub comes with transformers and pydantic with typer: the `hub` extra only sets a floor
"$BIN/python" - <<'EOF'
import importlib.util
import sys

from destila.cli._common import EXTRAS

core = {"huggingface_hub", "pydantic"}
present = sorted(m for modules in EXTRAS.values() for m in modules if m not in core and importlib.util.find_spec(m))
print("extras' modules installed:", present or "none")
sys.exit(1 if present else 0)
EOF

step "destila --help"
"$BIN/destila" --help

step "destila score on the sample (its own gold answers: 100)"
"$BIN/python" - <<'EOF'
import json

from destila.data import load_dataset

dataset = load_dataset("sample")
gold = {ex.id: (ex.answers[0].text if ex.answers else "") for ex in dataset.examples}
with open("predictions.json", "w", encoding="utf-8") as fh:
    json.dump(gold, fh, ensure_ascii=False)
EOF
"$BIN/destila" score --data sample --predictions predictions.json --json | tee score.json
"$BIN/python" -c "import json; s = json.load(open('score.json')); assert s['official']['exact'] == 100.0, s"

step "a tiny random model (tests/tiny.py)"
PYTHONPATH="$ROOT/tests" "$BIN/python" -c "from tiny import build_tiny_bert_qa; build_tiny_bert_qa('tiny')" 2>/dev/null

step "destila evaluate on the sample"
"$BIN/destila" evaluate --model tiny --data sample --out eval --threads 1 --no-progress
test -s eval/metrics.json

step "destila answer"
"$BIN/destila" answer --model tiny --question "¿Cuándo abrió el Prado?" --threads 1 \
    --context "El Museo del Prado abrió sus puertas al público en 1819 en Madrid."

refused() {  # refused EXTRA ARGS...: the verb exits 2 naming the extra
    local extra=$1 code=0
    shift
    "$BIN/destila" "$@" >out.txt 2>&1 || code=$?
    cat out.txt
    [ "$code" -eq 2 ] && grep -q "pip install 'destila\[$extra\]'" out.txt
}

step "destila serve and destila export name their extras"
refused serve serve --model tiny
refused export export --model tiny --out exported

step "passed"
