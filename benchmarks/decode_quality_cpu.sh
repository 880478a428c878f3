#!/usr/bin/env bash
# Does the fast decoding path change answers? (docs/results.md, "Fast decoding on CPU")
# The 60 QMSum validation queries of the shipped-default comparison (spread over the split), bf16,
# 2,048-token window, one at a time, zero-shot and with the shipped adapter, decoded by qfocus's loop
# on the float32 reserved cache with the projections packed in 4 bits (`--decode-weights auto`), each
# paired with the same system decoded by transformers' `generate` with bf16 weights and a bf16 cache
# (the runs of benchmarks/shipped_default_cpu.sh, made before the fast path existed), and the
# zero-shot one also with the float32 reference of benchmarks/dtype_quality_cpu.sh on the queries both
# hold. Paired bootstrap 95% intervals.
#   bash benchmarks/decode_quality_cpu.sh     # ~20 min on 2 CPU cores; needs runs/cmp-qmsum-val-2k-shipped-60
#                                            # and runs/dtype-float32 (the two scripts above make them)
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFOCUS:-.venv/bin/qfocus}
R=benchmarks/results/decode_quality_cpu
OLD=runs/cmp-qmsum-val-2k-shipped-60
NEW=runs/cmp-qmsum-val-2k-shipped-60-fast
[ -f "$NEW/comparison.json" ] || $Q compare --data qmsum --split val --context-window 2048 --dtype bfloat16 \
  --decode-weights auto --batch-size 1 --strategies "truncate:adapter=none,truncate" --limit 60 --out "$NEW"
mkdir -p $R runs/decode-named  # runs named by their decoding path (paired_subset.py names folders by run)
for system in truncate-adapter-none truncate; do
  ln -sfn "$PWD/$OLD/$system" runs/decode-named/generate-$system
  ln -sfn "$PWD/$NEW/$system" runs/decode-named/fast-$system
  .venv/bin/python benchmarks/paired_subset.py --out runs/decode-$system runs/decode-named/generate-$system \
    runs/decode-named/fast-$system
  .venv/bin/python benchmarks/keep_comparison.py runs/decode-$system $R
done
ln -sfn "$PWD/runs/dtype-float32" runs/decode-named/float32-generate-truncate-adapter-none
.venv/bin/python benchmarks/paired_subset.py --out runs/decode-vs-float32 \
  runs/decode-named/float32-generate-truncate-adapter-none runs/decode-named/fast-truncate-adapter-none
.venv/bin/python benchmarks/keep_comparison.py runs/decode-vs-float32 $R
.venv/bin/python - <<'PY'
import json
from pathlib import Path
out = {}
for system in ("truncate-adapter-none", "truncate"):
    old, new = ([json.loads(line) for line in Path(f"runs/{run}/{system}/predictions.jsonl").read_text().splitlines()]
                for run in ("cmp-qmsum-val-2k-shipped-60", "cmp-qmsum-val-2k-shipped-60-fast"))
    new_by_id = {r["id"]: r["prediction"] for r in new}
    out[system] = {"examples": len(old), "identical_answers": sum(r["prediction"] == new_by_id.get(r["id"]) for r in old)}
Path("benchmarks/results/decode_quality_cpu/identical.json").write_text(json.dumps(out, indent=2) + "\n")
print(out)
PY
