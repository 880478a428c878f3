"""`qfocus report`: compare `qfocus eval` runs in one markdown table and one bar chart.

    rows = load_runs(["runs/zero-shot", "runs/lora-eval", "runs/ideal-eval"])
    print(markdown_table(rows))
    bar_chart(rows, "report.png")
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from qfocus.errors import InputError
from qfocus.evaluation.bootstrap import RESAMPLES, SEED, paired_bootstrap
from qfocus.evaluation.query_types import by_type, markdown
from qfocus.hyper.config import saved_config
from qfocus.shipped import resolve_adapter

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
    peak_rss_mb: float | None = None
    ids: tuple[str, ...] = ()  # the examples, in order (from predictions.jsonl)
    per_example: tuple[dict, ...] = ()  # their scores


def load_runs(folders: list[str | Path], names: list[str] | None = None) -> list[RunRow]:
    rows = [_load_run(Path(folder)) for folder in folders]
    return [replace(row, name=name) for row, name in zip(rows, names)] if names else rows


def _predictions(folder: Path) -> tuple[tuple[str, ...], tuple[dict, ...]]:
    path = folder / "predictions.jsonl"
    if not path.is_file():
        return (), ()
    text = path.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.split("\n") if line.strip()]  # not splitlines(): answers may hold U+2028
    return tuple(r["id"] for r in lines), tuple(r["scores"] for r in lines)


def _adapter_of(summarize: dict) -> str | None:
    """The adapter folder a run loaded: `--adapter` resolved as its strategy resolves it (the shipped
    default is left out where the strategy cannot use it: `focus`, `lift`)."""
    from qfocus.config import SummarizeConfig
    from qfocus.strategies import get_strategy

    model = summarize.get("model", "smollm2")
    try:
        strategy = get_strategy(summarize.get("strategy", "truncate"), SummarizeConfig(adapter=summarize.get("adapter"), model=model))
    except InputError:  # a strategy this version does not know
        return resolve_adapter(summarize.get("adapter"), model)
    return strategy.adapter_folder()


def _load_run(folder: Path) -> RunRow:
    path = folder / "metrics.json"
    if not path.is_file():
        raise InputError(f"{folder} has no metrics.json: pass folders written by `qfocus eval --out`")
    metrics = json.loads(path.read_text())
    config = metrics.get("config", {})
    summarize = config.get("summarize", {})
    method, training = summarize.get("strategy", "?"), "-"
    adapter = _adapter_of(summarize)
    if adapter:
        hyper = saved_config(adapter) or {}
        train_summary = Path(adapter) / "summary.json"
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
    ids, per_example = _predictions(folder)
    try:
        return RunRow(name=folder.name, data=f"{config.get('data', '?')}/{config.get('split', '?')}", method=method,
                      examples=metrics["examples"], scores={m: metrics[m] for m in METRICS},
                      prompt_tokens=metrics["mean_prompt_tokens"], seconds_per_example=metrics["seconds_per_example"],
                      training=training, peak_rss_mb=metrics.get("peak_rss_mb"), ids=ids, per_example=per_example)
    except KeyError as missing:
        raise InputError(f"{path}: missing field {missing}") from None


def same_examples(rows: list[RunRow]) -> bool:
    """Whether every run scored the same examples in the same order (so paired intervals apply)."""
    return len(rows) > 1 and bool(rows[0].ids) and all(r.ids == rows[0].ids for r in rows)


def intervals(rows: list[RunRow], baseline: int = 0, resamples: int = RESAMPLES) -> list[dict | None]:
    """Each run's paired bootstrap intervals against `rows[baseline]` (None for the baseline itself)."""
    base = rows[baseline]
    return [None if i == baseline else paired_bootstrap(list(base.per_example), list(r.per_example), resamples)
            for i, r in enumerate(rows)]


def markdown_table(rows: list[RunRow], deltas: list[dict | None] | None = None) -> str:
    """One row per run; with `deltas` (from `intervals`), the difference from the baseline in geo. mean
    and R-Lsum with its 95% interval."""
    header = ["run", "data", "method", "examples", *(LABELS[m] for m in METRICS)]
    if deltas:
        header += ["Δ geo. mean [95% CI]", "Δ R-Lsum [95% CI]"]
    header += ["prompt tokens", "s/example", "peak RSS MB", "training"]
    best = {m: max(r.scores[m] for r in rows) for m in METRICS}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 4) + ["---"]) + "|"]
    for i, r in enumerate(rows):
        scores = [f"**{r.scores[m]:.2f}**" if r.scores[m] == best[m] and len(rows) > 1 else f"{r.scores[m]:.2f}"
                  for m in METRICS]
        cells = [r.name, r.data, r.method, str(r.examples), *scores]
        if deltas:
            cells += ["baseline", "baseline"] if deltas[i] is None else [str(deltas[i]["geometric_mean"]),
                                                                       str(deltas[i]["rougeLsum"])]
        peak = "-" if r.peak_rss_mb is None else f"{r.peak_rss_mb:.0f}"
        cells += [f"{r.prompt_tokens:.0f}", f"{r.seconds_per_example:.2f}", peak, r.training]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_comparison(rows: list[RunRow], baseline: int, out: Path, resamples: int = RESAMPLES,
                     title: str | None = None) -> dict:
    """comparison.md (table), comparison.json (scores and intervals) and comparison.png in `out`."""
    deltas = intervals(rows, baseline, resamples)
    table = markdown_table(rows, deltas)
    note = (f"\n\nn = {rows[0].examples} examples, the same for every run; intervals: paired bootstrap, "
            f"{resamples} resamples over examples (seed {SEED}), difference from {rows[baseline].name}.\n")
    types = by_type(rows, baseline, resamples) if same_examples(rows) else []
    if types:  # general and specific queries: does each strategy serve both?
        note += "\nPer query type (R-Lsum, Δ [95% CI] against the baseline on that type's examples):\n\n"
        note += markdown(types) + "\n"
    (out / "comparison.md").write_text(table + note)
    result = {"baseline": rows[baseline].name, "examples": rows[0].examples, "resamples": resamples, "seed": SEED,
              "runs": [{"name": r.name, "method": r.method, **r.scores, "prompt_tokens": r.prompt_tokens,
                        "seconds_per_example": r.seconds_per_example, "peak_rss_mb": r.peak_rss_mb,
                        "difference": None if d is None else {k: asdict(v) for k, v in d.items()}}
                       for r, d in zip(rows, deltas)], "by_query_type": types}
    (out / "comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    bar_chart(rows, out / "comparison.png", title)
    result["table"] = table
    return result


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
