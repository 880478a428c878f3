#!/usr/bin/env bash
# FocusLLM on this CPU (docs/results.md, "FocusLLM"): a 60-step budget run of `qfocus train-focus`
# (~10 min on 2 cores), then the pass key at 4K for truncate, untrained focus and trained focus in
# one run (~10 min). Results: benchmarks/results/focus_cpu/ and benchmarks/results/passkey_cpu/passkey_focus_cpu.*
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFOCUS:-.venv/bin/qfocus}
[ -f runs/focus-cpu/summary.json ] || $Q train-focus --max-tokens 2048 --local 256 --chunks 128 256 512 --steps 60 \
  --lr 1e-4 --save-every 20 --out runs/focus-cpu
cp runs/focus-cpu/log.jsonl benchmarks/results/focus_cpu/train_log.jsonl
cp runs/focus-cpu/summary.json benchmarks/results/focus_cpu/train_summary.json
cp runs/focus-cpu/train_config.json benchmarks/results/focus_cpu/train_config.json
$Q bench passkey --out benchmarks/results/passkey_cpu/passkey_focus_cpu.json --lengths 4096 --context-window 2048 \
  --strategies truncate focus:focus_local=1920 focus:focus_local=1920:focus_weights=runs/focus-cpu
