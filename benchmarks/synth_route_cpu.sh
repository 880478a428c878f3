#!/usr/bin/env bash
# Issue 16 on the 2-core CPU: routing (Hybrid LLM) and synthetic data (InstructDS and the three other
# strategies), in the order they ran (2026-11-24). Results are copied into
# benchmarks/results/synth_route_cpu/ (per-example scores only, no generated text).
set -euo pipefail
cd "$(dirname "$0")/.."
Q=.venv/bin/qfocus
R=runs/i16

# 1. Routing: both configurations scored on 96 QMSum train queries (spread over the split), CPU bf16, batch 1.
#    small = zero-shot truncate, large = truncate + the shipped IDEAL-LoRA adapter, both at the 2,048-token window.
$Q compare --data qmsum --split train --limit 96 --context-window 2048 --strategies truncate,truncate:adapter=none --out $R/route-train-qmsum
#    the validation pairs are the whole split (272) as the H100 scored them (benchmarks/gpu_training_curve.sh)
G=benchmarks/results/gpu/training_curve/c2k-qmsum-all
for emb in embedding no-embedding; do  # (the curve is also in benchmarks/route_crossfit.py's cross-fitted form)
  $Q route fit --split train --small-run $R/route-train-qmsum/truncate-adapter-none --large-run $R/route-train-qmsum/truncate \
    --small truncate:adapter=none:context_window=2048 --large truncate:context_window=2048 --$emb --out $R/router-$emb.json
  $Q route curve --router $R/router-$emb.json --small-run $G/truncate-adapter-none --large-run $G/truncate --out $R/curve-$emb
done

# 2. Synthetic data: the teacher is the embedded SmolLM2 with its shipped adapter (the best local model on a CPU).
#    (instructds ran with --budget 150, was killed at 74 calls to save time, and resumed with --budget 80:
#    the item under way at the kill was redone, then the budget was spent)
$Q synth --data qmsum --strategy instructds --budget 80 --out $R/synth/qmsum-instructds.jsonl
for s in rephrase new-question answer-aug; do
  $Q synth --data qmsum --strategy $s --budget 40 --out $R/synth/qmsum-$s.jsonl
done

# 3. Does it help? A smoke-scale test (the CPU affords no more): the HyperExpert on 64 real QMSum triples,
#    with and without the 51 synthetic triples that passed (instructds + answer-aug; rephrase and new-question kept none),
#    16 steps of 4 at 768 tokens each, then both on 24 QMSum and 24 CovidET val queries.
for arm in real synth; do
  extra=""; [ $arm = synth ] && extra="--data-file $R/synth/qmsum-instructds.jsonl $R/synth/qmsum-answer-aug.jsonl"
  $Q train --data qmsum --limit 64 $extra --method ideal-lora --max-steps 16 --batch-size 4 --max-input-tokens 768 --save-every 8 --out $R/train-$arm
done
$Q compare --data qmsum --split val --limit 24 --context-window 2048 --strategies truncate:adapter=$R/train-real,truncate:adapter=$R/train-synth --out $R/cmp-synth-qmsum
$Q compare --data covidet --split val --limit 24 --context-window 2048 --strategies truncate:adapter=$R/train-real,truncate:adapter=$R/train-synth --out $R/cmp-synth-covidet
