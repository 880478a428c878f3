#!/usr/bin/env bash
# Long-document table (docs/results.md, "Reading whole meetings"): IDEAL with memory over the whole
# QMSum meeting against the HyperExpert alone on the truncated meeting and against zero-shot, on the
# first 24 validation queries (4 meetings of 5.5K-21.9K tokens), SmolLM2 on CPU.
#   bash benchmarks/quality_memory_cpu.sh     # ~2 h on 2 CPU cores
# Same training budget for every adapter: 128 QMSum gold-span triples, 32 steps of 4, 1,024-token inputs
# (runs/qmsum-ideal-lora comes from benchmarks/quality_cpu.sh). The truncated runs read 1,024 prompt
# tokens (their training length) + 128 answer tokens; `ideal` reads every token in 512-token segments.
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFOCUS:-.venv/bin/qfocus}
R=benchmarks/results/quality_memory_cpu
TRAIN="--data qmsum-gold --limit 128 --batch-size 4 --max-steps 32 --max-input-tokens 1024 --save-every 8"
EVAL="--dtype float32 --data qmsum --split val --limit 24 --pick first"

[ -d runs/qmsum-ideal-lora ] || $Q train $TRAIN --method ideal-lora --out runs/qmsum-ideal-lora
# memory gates at the reference start (g = 0.5) and at a start close to local attention (g = 0.047, gate lr 0.1)
[ -f runs/qmsum-ideal-lora-memory/summary.json ] || \
  $Q train $TRAIN --method ideal-lora --memory --segment 512 --out runs/qmsum-ideal-lora-memory
[ -f runs/qmsum-ideal-lora-memory-g3/summary.json ] || \
  $Q train $TRAIN --method ideal-lora --memory --segment 512 --gate-init -3 --gate-lr 0.1 --out runs/qmsum-ideal-lora-memory-g3

$Q eval $EVAL --context-window 1152 --out runs/meeting-zero-shot-eval
$Q eval $EVAL --context-window 1152 --adapter runs/qmsum-ideal-lora --out runs/meeting-hyperexpert-eval
$Q eval $EVAL --strategy ideal --adapter runs/qmsum-ideal-lora-memory --out runs/meeting-ideal-eval
$Q eval $EVAL --strategy ideal --adapter runs/qmsum-ideal-lora-memory-g3 --out runs/meeting-ideal-g3-eval
# the model's own window (8,192 tokens: most of three of the four meetings, a third of the longest)
$Q eval $EVAL --out runs/meeting-zero-shot-8k-eval
$Q eval $EVAL --adapter runs/qmsum-ideal-lora --out runs/meeting-hyperexpert-8k-eval

mkdir -p $R
for run in runs/meeting-*-eval; do
  mkdir -p $R/$(basename $run) && cp $run/metrics.json $R/$(basename $run)/
  # per query: id, prompt tokens, seconds, scores (numbers only; predictions quote the dataset and stay in runs/)
  .venv/bin/python -c 'import json, sys; print(json.dumps([{k: r[k] for k in ("id", "prompt_tokens", "seconds", "scores")}
    for r in map(json.loads, open(sys.argv[1]))], indent=1))' $run/predictions.jsonl > $R/$(basename $run)/per_example.json
done
for run in qmsum-ideal-lora-memory qmsum-ideal-lora-memory-g3; do
  cp runs/$run/summary.json $R/$run-train.json
  cp runs/$run/log.jsonl $R/$run-train-log.jsonl
done
$Q report runs/meeting-zero-shot-eval runs/meeting-hyperexpert-eval runs/meeting-ideal-eval runs/meeting-ideal-g3-eval \
  runs/meeting-zero-shot-8k-eval runs/meeting-hyperexpert-8k-eval \
  --plot docs/img/qmsum-meetings-cpu.png --title "QMSum val (24 queries, whole meetings), SmolLM2, CPU" > $R/qmsum-meetings.md
