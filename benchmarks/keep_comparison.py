"""Copy the small part of a `qfocus compare` run into benchmarks/results/: the comparison table
(.md, .json, .png) and, per strategy, metrics.json and per_example.json (id, prompt tokens,
model calls, seconds, scores, and lift's training record without its cache key).

    python benchmarks/keep_comparison.py runs/cmp-x benchmarks/results/some_cpu
"""

import json
import shutil
import sys
from pathlib import Path

KEEP = ("id", "prompt_tokens", "model_calls", "seconds", "scores", "training")


def main() -> None:
    run, results = Path(sys.argv[1]), Path(sys.argv[2])
    target = results / run.name
    target.mkdir(parents=True, exist_ok=True)
    for name in ("comparison.md", "comparison.json", "comparison.png"):
        shutil.copy(run / name, target / name)
    for spec in sorted(p for p in run.iterdir() if (p / "predictions.jsonl").is_file()):
        dest = target / spec.name
        dest.mkdir(exist_ok=True)
        shutil.copy(spec / "metrics.json", dest / "metrics.json")
        rows = []
        for line in filter(None, (spec / "predictions.jsonl").read_text(encoding="utf-8").split("\n")):
            row = {k: v for k, v in json.loads(line).items() if k in KEEP}
            if "training" in row:
                row["training"] = {k: v for k, v in row["training"].items() if k != "key"}
            rows.append(row)
        (dest / "per_example.json").write_text(json.dumps(rows, indent=0))


if __name__ == "__main__":
    main()
