"""Split a `qfocus compare` result by query type (general vs specific): per-type means of each run and
paired bootstrap 95% intervals of the difference from the baseline, from the per-example scores that
benchmarks/quality_retrieval_cpu.sh keeps. QMSum ids name the type (val-3-general-0); in SQuALITY the
first question of every story is "What is the plot of the story?" (general), the others ask about a
character, a relationship or the setting (specific): ids end in -q1 .. -q5.

    python benchmarks/by_query_type.py benchmarks/results/retrieval_cpu/cmp-qmsum-val-2k
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from qfocus.evaluation.bootstrap import corpus_metrics, paired_bootstrap
from qfocus.evaluation.compare import folder_name
from qfocus.evaluation.rouge import METRICS


def kind(example_id: str) -> str | None:
    """general, specific, or None for data without query types (CovidET)."""
    if "-general-" in example_id or "-specific-" in example_id:
        return "general" if "-general-" in example_id else "specific"
    question = re.search(r"-q(\d+)$", example_id)  # SQuALITY: dev-3-q1
    if question:
        return "general" if question.group(1) == "1" else "specific"
    return None


def scored(scores: list[dict], baseline: list[dict] | None) -> dict:
    """R-Lsum and geometric mean of per-example `scores`, and with `baseline` (the same examples' scores
    under the baseline) the paired bootstrap 95% interval of the difference."""
    means = corpus_metrics(np.array([[s[m] for m in METRICS] for s in scores]))
    entry = {"rougeLsum": round(float(means[2]), 2), "geometric_mean": round(float(means[3]), 2)}
    if baseline is not None:
        d = paired_bootstrap(baseline, scores)
        entry["difference"] = {"geometric_mean": str(d["geometric_mean"]), "rougeLsum": str(d["rougeLsum"])}
    return entry


def main(folder: str) -> None:
    folder = Path(folder)
    comparison = json.loads((folder / "comparison.json").read_text())
    runs = {r["name"]: json.loads((folder / folder_name(r["name"]) / "per_example.json").read_text())
            for r in comparison["runs"]}
    baseline = comparison["baseline"]
    result = {}
    for query_type in ("general", "specific"):
        keep = [i for i, row in enumerate(runs[baseline]) if kind(row["id"]) == query_type]
        if not keep:  # data without typed ids (CovidET): nothing to split
            continue
        base = [runs[baseline][i]["scores"] for i in keep]
        result[query_type] = {"examples": len(keep), "runs": {}}
        for name, rows in runs.items():
            assert [rows[i]["id"] for i in keep] == [runs[baseline][i]["id"] for i in keep]
            scores = [rows[i]["scores"] for i in keep]
            result[query_type]["runs"][name] = scored(scores, None if name == baseline else base)
    (folder / "by_query_type.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1])
