#!/usr/bin/env bash
# FocusLLM on QMSum validation against truncate, retrieve and qllm at the same 2,048-token window
# (docs/results.md, "FocusLLM"), zero-shot SmolLM2, float32, the 40 spread queries of
# benchmarks/quality_blocks_cpu.sh (whose truncate run, and qllm's first 24, this reuses).
#   bash benchmarks/focus_qmsum_cpu.sh     # ~1.5 h on 2 cores (focus 41 min, retrieve 8, trained focus 40); runs in runs/,
#                                          # tables in benchmarks/results/focus_cpu/
# focus decodes with --focus-decode frozen (the reference's `cached` reads the 1,920-token local context again per
# answer token: 67.5 s per 16-token pass-key answer at 4K, docs/results.md).
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFOCUS:-.venv/bin/qfocus}
PY=${PYTHON:-.venv/bin/python}
R=benchmarks/results/focus_cpu
OUT=runs/cmp-qmsum-val-2k-blocks-40
FLAGS="--data qmsum --split val --context-window 2048 --dtype float32 --limit 40 --adapter none"  # zero-shot, as truncate and qllm ran
[ -f "$OUT/truncate/metrics.json" ] || LIMIT=40 bash benchmarks/quality_blocks_cpu.sh
[ -f "$OUT/focus-frozen/metrics.json" ] || $Q eval $FLAGS --strategy focus --focus-decode frozen --out "$OUT/focus-frozen"
[ -f "$OUT/retrieve/metrics.json" ] || $Q eval $FLAGS --strategy retrieve --out "$OUT/retrieve"
if [ -f runs/focus-cpu/focus.safetensors ] && [ ! -f "$OUT/focus-frozen-trained/metrics.json" ]; then
  $Q eval $FLAGS --strategy focus --focus-decode frozen --focus-weights runs/focus-cpu --out "$OUT/focus-frozen-trained"
fi
QLLM=$OUT/qllm-n_local-1024-block_size-128-topk-5-exec_block-256
TRAINED=$( [ -f "$OUT/focus-frozen-trained/metrics.json" ] && echo "$OUT/focus-frozen-trained" || true)
$PY benchmarks/paired_subset.py --out runs/cmp-focus-qmsum-40 "$OUT/truncate" "$OUT/retrieve" "$OUT/focus-frozen" $TRAINED
$PY benchmarks/paired_subset.py --out runs/cmp-focus-qmsum-24 "$OUT/truncate" "$OUT/retrieve" "$QLLM" "$OUT/focus-frozen" $TRAINED
for run in runs/cmp-focus-qmsum-40 runs/cmp-focus-qmsum-24; do $PY benchmarks/keep_comparison.py "$run" "$R"; done
