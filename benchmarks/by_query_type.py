"""Split a `qfocus compare` result by QMSum query type (general vs specific): per-type means of each
run and paired bootstrap 95% intervals of the difference from the baseline, from the per-example
scores that benchmarks/quality_retrieval_cpu.sh keeps (ids name the type: val-3-general-0).

    python benchmarks/by_query_type.py benchmarks/results/retrieval_cpu/cmp-qmsum-val-2k
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from qfocus.evaluation.bootstrap import corpus_metrics, paired_bootstrap
from qfocus.evaluation.compare import folder_name
from qfocus.evaluation.rouge import METRICS


def main(folder: str) -> None:
    folder = Path(folder)
    comparison = json.loads((folder / "comparison.json").read_text())
    runs = {r["name"]: json.loads((folder / folder_name(r["name"]) / "per_example.json").read_text())
            for r in comparison["runs"]}
    baseline = comparison["baseline"]
    result = {}
    for kind in ("general", "specific"):
        keep = [i for i, row in enumerate(runs[baseline]) if f"-{kind}-" in row["id"]]
        if not keep:  # data without typed ids (SQuALITY, CovidET): nothing to split
            continue
        base = [runs[baseline][i]["scores"] for i in keep]
        result[kind] = {"examples": len(keep), "runs": {}}
        for name, rows in runs.items():
            assert [rows[i]["id"] for i in keep] == [runs[baseline][i]["id"] for i in keep]
            scores = [rows[i]["scores"] for i in keep]
            means = corpus_metrics(np.array([[s[m] for m in METRICS] for s in scores]))
            entry = {"rougeLsum": round(float(means[2]), 2), "geometric_mean": round(float(means[3]), 2)}
            if name != baseline:
                d = paired_bootstrap(base, scores)
                entry["difference"] = {"geometric_mean": str(d["geometric_mean"]), "rougeLsum": str(d["rougeLsum"])}
            result[kind]["runs"][name] = entry
    (folder / "by_query_type.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1])
