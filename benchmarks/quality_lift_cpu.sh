#!/usr/bin/env bash
# LIFT against truncate at the same 2,048-token window (docs/results.md, "LIFT"): every query of
# DOCS QMSum validation meetings spread over the split (LIFT adapts once per meeting; the other
# queries of that meeting hit the cache), zero-shot SmolLM2, bf16, one example at a time, paired
# bootstrap 95% intervals. The adaptation is capped at STEPS steps (one 512-token segment each,
# a new segment every 192 tokens; ~1 epoch of a 20K-token meeting) so that a meeting costs minutes on 2 cores.
#   bash benchmarks/quality_lift_cpu.sh     # runs go to runs/, small results to benchmarks/results/lift_cpu/
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFOCUS:-.venv/bin/qfocus}
R=benchmarks/results/lift_cpu
DOCS=${DOCS:-4}
STEPS=${STEPS:-120}
OUT=runs/cmp-qmsum-val-2k-lift-$DOCS-docs
export QFOCUS_CACHE=${QFOCUS_CACHE:-runs/cache}  # adaptations start cold, not from a user's cache
SPECS=${SPECS:-"truncate,lift:lift_adapter=lora:lift_context=0:lift_steps=$STEPS,lift:lift_adapter=gated:lift_context=0:lift_steps=$STEPS"}
[ -f "$OUT/comparison.json" ] || $Q compare --data qmsum --split val --context-window 2048 --dtype bfloat16 \
  --batch-size 1 --strategies "$SPECS" --limit "$DOCS" --pick documents --out "$OUT"
.venv/bin/python benchmarks/keep_comparison.py "$OUT" "$R"
