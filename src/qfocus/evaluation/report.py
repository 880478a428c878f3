"""`qfocus report`: compare `qfocus eval` runs in one markdown table and one bar chart.

    rows = load_runs(["runs/zero-shot", "runs/lora-eval", "runs/ideal-eval"])
    print(markdown_table(rows))
    bar_chart(rows, "report.png")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qfocus.errors import InputError
from qfocus.hyper.config import saved_config

METRICS = ("rouge1", "rouge2", "rougeLsum", "geometric_mean")
LABELS = {"rouge1": "R-1", "rouge2": "R-2", "rougeLsum": "R-Lsum", "geometric_mean": "geo. mean"}


@dataclass(frozen=True)
class RunRow:
    name: str  # the run folder's name
    data: str  # dataset/split
    method: str  # adapter method, or the strategy when zero-shot
    examples: int
    scores: dict[str, float]  # METRICS → value
    prompt_tokens: float
    seconds_per_example: float
    training: str = "-"  # "64 steps x 4, 7.1 s/step" from the adapter's summary.json, when there is one


def load_runs(folders: list[str | Path]) -> list[RunRow]:
    return [_load_run(Path(folder)) for folder in folders]


def _load_run(folder: Path) -> RunRow:
    path = folder / "metrics.json"
    if not path.is_file():
        raise InputError(f"{folder} has no metrics.json: pass folders written by `qfocus eval --out`")
    metrics = json.loads(path.read_text())
    config = metrics.get("config", {})
    summarize = config.get("summarize", {})
    method, training = summarize.get("strategy", "?"), "-"
    if summarize.get("adapter"):
        hyper = saved_config(summarize["adapter"]) or {}
        train_summary = Path(summarize["adapter"]) / "summary.json"
        trained = hyper.get("method", "adapter")
        if hyper.get("memory"):
            trained += f" + memory (S {hyper['segment']})"
        method = trained if method in ("truncate", "ideal", "infini") else f"{trained} + {method}"
        if train_summary.is_file():
            t = json.loads(train_summary.read_text())
            median = t.get("median_step_seconds")
            step = f"{median} s/step (median)" if median else f"{t['seconds_per_step']} s/step"
            training = f"{t['steps']} steps x {t['effective_batch']}, {step}"
    elif method == "truncate":
        method = "zero-shot"
    try:
        return RunRow(name=folder.name, data=f"{config.get('data', '?')}/{config.get('split', '?')}", method=method,
                      examples=metrics["examples"], scores={m: metrics[m] for m in METRICS},
                      prompt_tokens=metrics["mean_prompt_tokens"], seconds_per_example=metrics["seconds_per_example"],
                      training=training)
    except KeyError as missing:
        raise InputError(f"{path}: missing field {missing}") from None


def markdown_table(rows: list[RunRow]) -> str:
    header = ["run", "data", "method", "examples", *(LABELS[m] for m in METRICS), "prompt tokens", "s/example", "training"]
    best = {m: max(r.scores[m] for r in rows) for m in METRICS}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 4) + ["---"]) + "|"]
    for r in rows:
        scores = [f"**{r.scores[m]:.2f}**" if r.scores[m] == best[m] and len(rows) > 1 else f"{r.scores[m]:.2f}"
                  for m in METRICS]
        cells = [r.name, r.data, r.method, str(r.examples), *scores, f"{r.prompt_tokens:.0f}", f"{r.seconds_per_example:.2f}",
                 r.training]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bar_chart(rows: list[RunRow], path: str | Path, title: str | None = None) -> Path:
    """Grouped bars: one group per metric, one bar per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(METRICS) + 0.5 * len(rows)), 4.5))
    for i, row in enumerate(rows):
        xs = [m + (i - (len(rows) - 1) / 2) * width for m in range(len(METRICS))]
        bars = ax.bar(xs, [row.scores[m] for m in METRICS], width, label=f"{row.name} ({row.method})")
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(METRICS)), [LABELS[m] for m in METRICS])
    ax.set_ylabel("F1 x100")
    ax.set_title(title or ", ".join(sorted({r.data for r in rows})))
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(len(rows), 2), frameon=False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
