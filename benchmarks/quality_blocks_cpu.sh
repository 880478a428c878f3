#!/usr/bin/env bash
# Reading the whole document with no training (docs/results.md, "KV blocks: qllm and stream"):
# truncate at a 2,048-token window against qllm and stream attending to about as many keys per token,
# on QMSum validation queries spread over all meetings, zero-shot, float32, paired bootstrap 95% intervals.
#   bash benchmarks/quality_blocks_cpu.sh      # runs go to runs/, small results to benchmarks/results/blocks_cpu/
# LIMIT=40 by default.
#   qllm:   128 sinks + 1,024 local + top-5 blocks of 128 (+ < 128 waiting + the execution block of 256): <= 2,176 keys
#   stream: 128 sinks + 1,664 local (+ < 64 waiting + 256): <= 2,112 keys
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFOCUS:-.venv/bin/qfocus}
R=benchmarks/results/blocks_cpu
LIMIT=${LIMIT:-40}
OUT=runs/cmp-qmsum-val-2k-blocks-$LIMIT
QLLM="qllm:n_local=1024:block_size=128:topk=5:exec_block=256"
STREAM="stream:n_local=1664:exec_block=256"
[ -f "$OUT/comparison.json" ] || $Q compare --data qmsum --split val --context-window 2048 --dtype float32 \
  --strategies "truncate,$QLLM,$STREAM" --limit "$LIMIT" --out "$OUT"
.venv/bin/python benchmarks/keep_comparison.py "$OUT" "$R"
