#!/usr/bin/env bash
# Does bf16 change answers' quality? The same 50 QMSum validation queries (spread over the split),
# zero-shot `truncate` at a 2,048-token window, in float32 (batches of 8: the same answers as one at a
# time, see speed_cpu.json) and in bfloat16 (one at a time: batched bf16 answers differ from its own
# one-at-a-time ones and are no faster); `qfocus report` gives the paired bootstrap 95% interval of
# the difference (docs/results.md, "bf16 on CPU").
#   bash benchmarks/dtype_quality_cpu.sh     # ~15 min on 2 CPU cores; results in benchmarks/results/dtype_quality_cpu/
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFOCUS:-.venv/bin/qfocus}
R=benchmarks/results/dtype_quality_cpu
E="--data qmsum --split val --limit 50 --context-window 2048"
[ -f runs/dtype-float32/metrics.json ] || $Q eval $E --dtype float32 --batch-size 8 --out runs/dtype-float32
[ -f runs/dtype-bfloat16/metrics.json ] || $Q eval $E --dtype bfloat16 --batch-size 1 --out runs/dtype-bfloat16
mkdir -p $R
$Q report runs/dtype-float32 runs/dtype-bfloat16 --plot $R/report.png | tee $R/report.md
for dtype in float32 bfloat16; do
  mkdir -p $R/$dtype && cp runs/dtype-$dtype/metrics.json $R/$dtype/
done
.venv/bin/python - <<'PY'
import json
a, b = ([json.loads(line) for line in open(f"runs/dtype-{d}/predictions.jsonl")] for d in ("float32", "bfloat16"))
same = sum(x["prediction"] == y["prediction"] for x, y in zip(a, b))
out = {"examples": len(a), "identical_answers": same}
json.dump(out, open("benchmarks/results/dtype_quality_cpu/identical.json", "w"), indent=2)
print(out)
PY
