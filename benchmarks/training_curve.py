"""The validation curve of the shipped adapter's training budget (issue 18), from what
benchmarks/gpu_training_curve.sh brought back and benchmarks/keep_comparison.py kept: R-Lsum of the
3-epoch run's checkpoints on QMSum val and SQuALITY dev (2,048-token window), each with its paired
bootstrap 95% interval against the shipped adapter (the 2-epoch run's end), and the training loss
(mean of the 20 steps up to each checkpoint). Writes training_curve.json and .png beside them.

    python benchmarks/training_curve.py benchmarks/results/gpu/training_curve
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from qfocus.evaluation.bootstrap import corpus_metrics, paired_bootstrap
from qfocus.evaluation.rouge import METRICS

CHECKPOINTS = (300, 600, 849)  # steps of the 3-epoch run (283 steps per epoch)
SHIPPED_STEPS = 566  # the shipped adapter: the end of a 2-epoch run (its own cosine schedule)
DATA = {"qmsum": "c2k-qmsum", "squality": "c2k-squality"}


def _scores(folder: Path, spec: str) -> tuple[list[str], list[dict]]:
    rows = json.loads((folder / spec / "per_example.json").read_text())
    return [r["id"] for r in rows], [r["scores"] for r in rows]


def main(root: str) -> None:
    root = Path(root)
    log = [json.loads(line) for line in (root / "log.jsonl").read_text().splitlines()]
    loss = {s: round(float(np.mean([r["loss"] for r in log if s - 20 < r["step"] <= s])), 3) for s in CHECKPOINTS}
    curve = {"checkpoints": list(CHECKPOINTS), "steps_per_epoch": 283, "train_loss_mean20": loss, "data": {}}
    for name, sub in DATA.items():
        folder = root / sub
        ids, shipped = _scores(folder, "truncate")
        zero_ids, zero = _scores(folder, "truncate-adapter-none")
        assert ids == zero_ids
        r_lsum = lambda s: round(float(corpus_metrics(np.array([[x[m] for m in METRICS] for x in s]))[2]), 2)  # noqa: E731
        entry = {"examples": len(ids), "zero_shot": r_lsum(zero), "shipped": r_lsum(shipped), "checkpoints": {}}
        for step in CHECKPOINTS:
            got_ids, scores = _scores(folder, f"truncate-adapter-root-s{step}")
            assert got_ids == ids
            entry["checkpoints"][step] = {"rougeLsum": r_lsum(scores),
                                          "vs_shipped": str(paired_bootstrap(shipped, scores)["rougeLsum"])}
        curve["data"][name] = entry
    (root / "training_curve.json").write_text(json.dumps(curve, indent=2) + "\n")
    print(json.dumps(curve, indent=2))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    steps = [r["step"] for r in log]
    smooth = np.convolve([r["loss"] for r in log], np.ones(20) / 20, mode="valid")
    left.plot(steps[19:], smooth, color="tab:gray")
    left.set(xlabel="step (283 per epoch)", ylabel="training loss (mean of 20 steps)", title="3-epoch run: training loss")
    for name, entry in curve["data"].items():
        line, = right.plot(CHECKPOINTS, [entry["checkpoints"][s]["rougeLsum"] for s in CHECKPOINTS], "o-",
                           label=f"{name} val, 3-epoch run (n={entry['examples']})")
        right.plot([SHIPPED_STEPS], [entry["shipped"]], "*", markersize=12, color=line.get_color(),
                   label=f"{name}: shipped (2-epoch run)")
        right.axhline(entry["zero_shot"], linestyle=":", color=line.get_color())
    right.set(xlabel="step", ylabel="R-Lsum (2,048-token window)", title="validation (dotted: zero-shot)")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(root / "training_curve.png", dpi=120)


if __name__ == "__main__":
    main(sys.argv[1])
