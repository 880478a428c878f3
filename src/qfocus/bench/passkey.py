"""Pass-key retrieval: can a strategy find one line planted anywhere in a long document?

A five-digit pass key is planted at depths 0-100% of filler text of 4K to 128K tokens and the
question "What is the pass key?" is asked. The filler is written here: the sentences of the
bundled example meeting, shuffled (a different order for every haystack) and repeated, so no
dataset text is involved. An answer is correct when it contains the key. Every (length, depth)
uses the same key and filler for every strategy; all depths of one length are answered in one
batch where the strategy batches. `--context-window` bounds what truncate and retrieve put in one
prompt (qllm and stream read everything and attend to their own budget).

    qfocus bench passkey --out benchmarks/results/passkey_cpu.json
"""

from __future__ import annotations

import json
import platform
import random
import re
import time
from importlib import resources
from pathlib import Path

import torch

LENGTHS = (4096, 8192, 16384, 32768)
DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
STRATEGIES = ("truncate", "retrieve", "stream", "qllm", "infini")
QUESTION = "What is the pass key?"
NEEDLE = "The pass key is {key}. Remember it. {key} is the pass key."


def filler_sentences() -> list[str]:
    """The sentences of the bundled example meeting (markdown markup dropped)."""
    text = resources.files("qfocus.examples").joinpath("water_board_meeting.md").read_text(encoding="utf-8")
    text = re.sub(r"[#*_>`|-]+", " ", text)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if len(s.split()) >= 4]


def haystack(tokenizer, tokens: int, depth: float, key: int, seed: int) -> str:
    """About `tokens` tokens of shuffled filler with the needle at `depth` (0: first line, 1: last)."""
    sentences, rng = filler_sentences(), random.Random(seed)
    lengths = [len(tokenizer.encode(" " + s, add_special_tokens=False)) for s in sentences]
    needle = NEEDLE.format(key=key)
    budget = tokens - len(tokenizer.encode(" " + needle, add_special_tokens=False))
    chosen, total = [], 0
    while True:
        order = list(range(len(sentences)))
        rng.shuffle(order)
        for i in order:
            if total + lengths[i] > budget:
                chosen.insert(round(depth * len(chosen)), needle)
                return " ".join(chosen)
            chosen.append(sentences[i])
            total += lengths[i]


def run(out: Path, model: str = "smollm2", lengths=LENGTHS, depths=DEPTHS, strategies=STRATEGIES,
        dtype: str = "auto", context_window: int | None = None, on_row=None, plot: Path | None = None) -> dict:
    """Answer every (strategy, length, depth); write the JSON report (and a heat map PNG)."""
    from qfocus.config import GenerationConfig, SummarizeConfig
    from qfocus.strategies import strategy_config
    from qfocus.models import load_model
    from qfocus.strategies import get_strategy

    lm = load_model(model, dtype=dtype)
    generation = GenerationConfig(max_new_tokens=16)
    rows = []
    for length in lengths:
        keys = [random.Random(length * 1000 + int(d * 100)).randrange(10000, 100000) for d in depths]
        documents = [haystack(lm.tokenizer, length, d, k, seed=length + i) for i, (d, k) in enumerate(zip(depths, keys))]
        for name in strategies:
            config = strategy_config(SummarizeConfig(model=model, dtype=dtype, generation=generation,
                                                     context_window=context_window), name)  # name[:key=value...]
            strategy = get_strategy(config.strategy, config)
            items = [(doc, QUESTION) for doc in documents]
            start = time.perf_counter()
            summaries = strategy.summarize_batch(lm, items) if strategy.batched else [strategy.summarize(lm, *item) for item in items]
            seconds = (time.perf_counter() - start) / len(items)
            for depth, key, summary in zip(depths, keys, summaries):
                row = {"strategy": name, "length": length, "depth": depth, "key": key, "found": str(key) in summary.summary,
                       "answer": summary.summary, "prompt_tokens": summary.prompt_tokens,
                       "truncated_tokens": summary.truncated_tokens, "seconds": round(seconds, 2)}
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    dtype_name = str(next(lm.model.parameters()).dtype).removeprefix("torch.")
    report = make_report(rows, model, dtype_name, context_window or lm.context_window, lengths, depths, strategies)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if plot is not None:
        heat_map(report, plot)
    return report


def make_report(rows: list[dict], model: str, dtype: str, context_window: int, lengths, depths, strategies) -> dict:
    return {
        "benchmark": "passkey", "model": model, "dtype": dtype, "context_window": context_window, "question": QUESTION,
        "lengths": list(lengths), "depths": list(depths),
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads()},
        "accuracy": {name: {str(n): _accuracy(rows, name, n) for n in lengths} for name in strategies},
        "rows": rows,
    }


def _accuracy(rows: list[dict], strategy: str, length: int) -> float:
    found = [r["found"] for r in rows if r["strategy"] == strategy and r["length"] == length]
    return round(sum(found) / len(found), 3)


def heat_map(report: dict, path: Path) -> None:
    """One panel per strategy: depth (rows) x document length (columns), green where the key was found."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = list(report["accuracy"])
    lengths, depths = report["lengths"], report["depths"]
    figure, axes = plt.subplots(1, len(strategies), figsize=(2.2 * len(strategies) + 1, 3), sharey=True, squeeze=False)
    for axis, name in zip(axes[0], strategies):
        grid = [[next(float(r["found"]) for r in report["rows"]
                      if r["strategy"] == name and r["length"] == n and r["depth"] == d) for n in lengths] for d in depths]
        axis.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
        axis.set_title(name)
        axis.set_xticks(range(len(lengths)), [f"{n // 1024}K" for n in lengths], fontsize=7)
        axis.set_yticks(range(len(depths)), [f"{round(d * 100)}%" for d in depths], fontsize=7)
        axis.set_xlabel("document tokens", fontsize=7)
    axes[0][0].set_ylabel("depth of the key")
    figure.suptitle(f"pass key found ({report['model']}, window {report['context_window']}, {report['dtype']})", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
