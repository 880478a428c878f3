"""Loss curves of LIFT adaptations kept in a qfocus cache folder (one line per adapted document).

    python benchmarks/lift_loss_curves.py runs/cache --out benchmarks/results/lift_cpu/loss_curves

Writes <out>.json (per entry: model, adapter, settings, document tokens, steps, seconds, the loss of
every step) and <out>.png (the losses, smoothed over 10 steps, one panel per adapter).
"""

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", type=Path, help="a qfocus cache folder ($QFOCUS_CACHE)")
    parser.add_argument("--out", type=Path, required=True, help="path without extension")
    args = parser.parse_args()
    entries = []
    for meta_file in sorted((args.cache / "lift").glob("*/lift.json")):
        meta = json.loads(meta_file.read_text())
        entries.append({"key": meta_file.parent.name, "model": meta["model"], "adapter": meta["settings"]["lift_adapter"],
                        "settings": meta["settings"], "document_tokens": meta["document_tokens"], "steps": meta["steps"],
                        "seconds": meta["seconds"], "loss_start": meta["loss_start"], "loss_end": meta["loss_end"],
                        "losses": meta["losses"]})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(entries, indent=1) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({(e["adapter"], e["settings"]["lift_lr"], e["settings"]["lift_context"]) for e in entries}, key=str)
    figure, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 3.2), sharey=True, squeeze=False)
    for axis, kind in zip(axes[0], kinds):
        for entry in (e for e in entries if (e["adapter"], e["settings"]["lift_lr"], e["settings"]["lift_context"]) == kind):
            losses = entry["losses"]
            smooth = [sum(losses[max(0, i - 9):i + 1]) / len(losses[max(0, i - 9):i + 1]) for i in range(len(losses))]
            axis.plot(range(1, len(losses) + 1), smooth, label=f"{entry['document_tokens']:,} tokens")
        adapter, lr, context = kind
        axis.set_title(f"{adapter}, lr {lr:g}" + (f", context {context}" if context else ""))
        axis.set_xlabel("step (one sample)")
        axis.legend(fontsize=7)
    axes[0][0].set_ylabel("training loss (mean of 10 steps)")
    figure.tight_layout()
    figure.savefig(args.out.with_suffix(".png"), dpi=110)


if __name__ == "__main__":
    main()
