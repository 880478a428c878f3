#!/usr/bin/env bash
# The first results table (docs/results.md): static LoRA against IDEAL-LoRA at the same budget, with
# zero-shot and the lead-30-words floor, on CPU subsets of CovidET and QMSum (gold spans).
#   bash benchmarks/quality_cpu.sh            # ~1 h on 2 CPU cores; runs go to runs/, metrics to benchmarks/results/quality_cpu/
# Every eval uses the input budget its adapters were trained with (prompt + 128 answer tokens).
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFOCUS:-.venv/bin/qfocus}
R=benchmarks/results/quality_cpu

# CovidET: 256 training triples (seeded sample), 64 steps of 4 = one pass; first 50 validation pairs
for method in lora ideal-lora; do
  $Q train --data covidet --method $method --limit 256 --batch-size 4 --max-steps 64 --max-input-tokens 768 \
    --save-every 16 --out runs/covidet-$method
  $Q eval --dtype float32 --data covidet --split val --limit 50 --pick first --adapter runs/covidet-$method --context-window 896 --out runs/covidet-$method-eval
done
$Q eval --dtype float32 --data covidet --split val --limit 50 --pick first --strategy lead --out runs/covidet-lead-eval
$Q eval --dtype float32 --data covidet --split val --limit 50 --pick first --context-window 896 --out runs/covidet-zero-shot-eval

# QMSum, gold spans (specific queries see their relevant turns): 128 triples, 32 steps of 4; first 24 val queries
for method in lora ideal-lora; do
  $Q train --data qmsum-gold --method $method --limit 128 --batch-size 4 --max-steps 32 --max-input-tokens 1024 \
    --save-every 8 --out runs/qmsum-$method
  $Q eval --dtype float32 --data qmsum-gold --split val --limit 24 --pick first --adapter runs/qmsum-$method --context-window 1152 --out runs/qmsum-$method-eval
done
$Q eval --dtype float32 --data qmsum-gold --split val --limit 24 --pick first --strategy lead --out runs/qmsum-lead-eval
$Q eval --dtype float32 --data qmsum-gold --split val --limit 24 --pick first --context-window 1152 --out runs/qmsum-zero-shot-eval

# keep the small results (metrics, training summaries and step logs; predictions hold dataset text and stay in runs/)
for data in covidet qmsum; do
  for run in runs/$data-*-eval; do mkdir -p $R/$(basename $run) && cp $run/metrics.json $R/$(basename $run)/; done
  for method in lora ideal-lora; do
    cp runs/$data-$method/summary.json $R/$data-$method-train.json
    cp runs/$data-$method/log.jsonl $R/$data-$method-train-log.jsonl
  done
  $Q report runs/$data-zero-shot-eval runs/$data-lead-eval runs/$data-lora-eval runs/$data-ideal-lora-eval \
    --plot docs/img/$data-cpu.png > $R/$data.md
done
