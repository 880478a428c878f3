#!/usr/bin/env bash
# The shipped default (truncate + the IDEAL-LoRA adapter of src/qfocus/shipped/, 2,048-token window)
# against zero-shot truncate at the same window (docs/results.md, "The shipped default"): N examples
# spread over SQuALITY dev and CovidET val (out of domain: not trained on), then QMSum val, bf16,
# one example at a time, paired bootstrap 95% intervals. ~35 min for the first two on 2 cores.
#   bash benchmarks/shipped_default_cpu.sh          # runs go to runs/, small results to benchmarks/results/shipped_cpu/
# The committed results ran as (about 17, 9 and 22 minutes):
#   N=40 DATASETS="squality:val covidet:val" bash benchmarks/shipped_default_cpu.sh
#   N=60 DATASETS=qmsum:val bash benchmarks/shipped_default_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFOCUS:-.venv/bin/qfocus}
R=benchmarks/results/shipped_cpu
N=${N:-60}
for DATA in ${DATASETS:-squality:val covidet:val qmsum:val}; do
  OUT=runs/cmp-${DATA%%:*}-${DATA##*:}-2k-shipped-$N
  [ -f "$OUT/comparison.json" ] || $Q compare --data "${DATA%%:*}" --split "${DATA##*:}" --context-window 2048 \
    --dtype bfloat16 --batch-size 1 --strategies "truncate:adapter=none,truncate" --limit "$N" --out "$OUT"
  .venv/bin/python benchmarks/keep_comparison.py "$OUT" "$R"
done
