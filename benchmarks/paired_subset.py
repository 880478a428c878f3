"""Compare eval runs on the examples they all finished: for a run stopped early (no metrics.json).

    python benchmarks/paired_subset.py --out runs/cmp-subset runs/cmp/truncate runs/cmp/qllm-...

Keeps the examples every run's predictions.jsonl holds (in the first run's order), recomputes each
run's ROUGE means, prompt tokens and seconds per example from those rows, and writes the same
comparison.md/.json/.png as `qfocus compare` (paired bootstrap 95% intervals). Peak RSS is the
finished run's own (metrics.json), else left out.
"""

import argparse
import json
from pathlib import Path

from qfocus.evaluation.report import load_runs, write_comparison
from qfocus.evaluation.rouge import aggregate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("runs", type=Path, nargs="+", help="eval folders; the first is the baseline")
    args = parser.parse_args()
    predictions = {run: [json.loads(line) for line in (run / "predictions.jsonl").read_text().split("\n") if line.strip()]
                   for run in args.runs}
    common = set.intersection(*({r["id"] for r in rows} for rows in predictions.values()))
    order = [r["id"] for r in predictions[args.runs[0]] if r["id"] in common]
    folders = []
    for run, rows in predictions.items():
        by_id = {r["id"]: r for r in rows}
        kept = [by_id[i] for i in order]
        old = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
        metrics = {**aggregate([r["scores"] for r in kept]), "examples": len(kept),
                   "mean_prompt_tokens": sum(r["prompt_tokens"] for r in kept) / len(kept),
                   "seconds_per_example": round(sum(r["seconds"] for r in kept) / len(kept), 3),
                   "peak_rss_mb": old.get("peak_rss_mb"),
                   "config": old.get("config", {"summarize": {"strategy": run.name.split("-")[0]}}),
                   "subset_of": str(run), "finished": bool(old)}
        folder = args.out / run.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        folders.append(folder)
    result = write_comparison(load_runs(folders), 0, args.out, title=f"n = {len(order)} (examples every run finished)")
    print(json.dumps([{k: r[k] for k in ("name", "geometric_mean", "difference")} for r in result["runs"]], indent=1))


if __name__ == "__main__":
    main()
