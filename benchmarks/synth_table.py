"""The synthetic-data strategies side by side: what each teacher budget bought (from the progress
files `qfocus synth` writes), as JSON and a markdown table.

    python benchmarks/synth_table.py runs/i16/synth benchmarks/results/synth_route_cpu/synth.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from qfocus.synth import totals


def main(folder: str, out: str) -> None:
    rows = {}
    for progress in sorted(Path(folder).glob("*.jsonl.progress")):
        lines = [json.loads(line) for line in progress.read_text().splitlines() if line.strip()]
        config = lines[0]["config"]
        rows[config["strategy"]] = {"data": f"{config['data']}/{config['split']}", "teacher": config["teacher"],
                                    "adapter": config["adapter"], **totals(r for r in lines[1:] if "key" in r)}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(rows, indent=1) + "\n")
    print("| strategy | seed items | teacher calls | prompt tokens | answer tokens | triples kept | calls per triple | dropped (reason: n) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, r in rows.items():
        dropped = ", ".join(f"{k}: {v}" for k, v in r["dropped"].items()) or "-"
        print(f"| {name} | {r['items']} | {r['calls']} | {r['prompt_tokens']:,} | {r['answer_tokens']:,} | {r['triples']} | "
              f"{r['calls_per_triple']} | {dropped} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
