#!/usr/bin/env bash
# The README's `qfocus summarize --strategy lift` example, measured: a first query (adaptation,
# --lift-seconds 120), a second query on the same meeting (cache hit), truncate on that query, and
# `qfocus cache list`, in a fresh cache folder (so the first call also converts the model once).
#   bash benchmarks/lift_demo_cpu.sh     # outputs (answers as JSON, `time` lines) in benchmarks/results/lift_cpu/cli_demo/
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFOCUS:-.venv/bin/qfocus}
OUT=benchmarks/results/lift_cpu/cli_demo
D=src/qfocus/examples/water_board_meeting.md
mkdir -p "$OUT"
rm -rf runs/cache-demo
export QFOCUS_CACHE=runs/cache-demo
run() {  # name, args...
  local name=$1; shift
  { time $Q summarize $D "$@" --json > "$OUT/$name.json" ; } 2> "$OUT/$name.time"
}
run 1-lift-first -q "What did the board decide about the budget?" --strategy lift --context-window 2048 --lift-seconds 120
run 2-lift-cache-hit -q "Who raised concerns about the pump?" --strategy lift --context-window 2048 --lift-seconds 120
run 3-truncate -q "Who raised concerns about the pump?" --context-window 2048
$Q cache list > "$OUT/cache_list.txt"
