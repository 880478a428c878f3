"""`qfocus compare`: several strategies on the same examples, one model load, one table with intervals.

    config = CompareConfig(strategies="truncate,retrieve,retrieve:scorer=bm25", eval=EvalConfig(limit=60, out="runs/cmp"))
    table = compare(config)

A strategy spec is a registered name, optionally with settings after colons
(`retrieve:scorer=bm25:mugi=true`): any field of SummarizeConfig, RetrievalConfig or GenerationConfig.
Each spec's run is written as `qfocus eval` writes it (OUT/<spec>/predictions.jsonl, metrics.json);
OUT/comparison.md, comparison.json and comparison.png hold the table: ROUGE, seconds per example,
peak RSS, and each strategy's paired bootstrap 95% interval of its difference from the baseline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from qfocus.errors import InputError
from qfocus.evaluation.run import EvalConfig


@dataclass
class CompareConfig:
    """Which strategies to compare, against which baseline."""

    strategies: str = field(default="truncate,retrieve", metadata={"help": "Comma-separated strategy specs: name or name:key=value:... (e.g. retrieve:scorer=bm25)."})
    baseline: str | None = field(default=None, metadata={"help": "The spec every other is compared with; default: the first."})
    resamples: int = field(default=1000, metadata={"help": "Bootstrap resamples over examples (seeded)."})
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        specs = self.specs()
        if not specs:
            raise InputError("strategies is empty: pass names such as truncate,retrieve")
        if len(set(specs)) != len(specs):
            raise InputError(f"strategies names one spec twice ({self.strategies}): list each once")
        if self.baseline is not None and self.baseline not in specs:
            raise InputError(f"baseline '{self.baseline}' is not among --strategies {self.strategies}: name one of them")
        if self.resamples < 100:
            raise InputError(f"resamples is {self.resamples}: pass at least 100, such as 1000")
        from qfocus.strategies import strategy_config  # here, so that `qfocus compare --help` loads no model code

        for spec in specs:
            strategy_config(self.eval.summarize, spec)  # unknown names and settings fail before any work

    def specs(self) -> list[str]:
        return [s.strip() for s in self.strategies.split(",") if s.strip()]


def folder_name(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", spec)


def compare(config: CompareConfig, on_example: Callable[[str, int, int], None] | None = None, on_convert=None) -> dict:
    """Run every spec on the same examples with one loaded model; returns the comparison written to disk."""
    from qfocus.evaluation.run import finished, load_examples, run_examples
    from qfocus.models import load_for
    from qfocus.strategies import get_strategy, strategy_config

    specs = config.specs()
    configs = {s: strategy_config(config.eval.summarize, s) for s in specs}
    strategies = {s: get_strategy(c.strategy, c) for s, c in configs.items()}
    examples = load_examples(config.eval)
    out = Path(config.eval.out)
    runs = {s: replace(config.eval, out=str(out / folder_name(s)), summarize=configs[s]) for s in specs}
    # With --resume, every folder is checked before any work, and finished ones are left as they are.
    done = {s for s in specs if finished(runs[s], examples)}
    summarize, lm, loaded = config.eval.summarize, None, None
    for spec in specs:
        if spec in done:
            continue
        # One model load per run of specs with the same adapter (truncate:adapter=none beside the default).
        folder = strategies[spec].adapter_folder()
        if lm is None or folder != loaded:
            lm = None  # free the last one first
            loaded, lm = folder, load_for(summarize, folder, on_convert)
        progress = (lambda done, total, spec=spec: on_example(spec, done, total)) if on_example else None
        run_examples(lm, strategies[spec], examples, runs[spec], progress)
    from qfocus.evaluation.report import load_runs, write_comparison

    rows = load_runs([out / folder_name(s) for s in specs], names=specs)
    baseline = specs.index(config.baseline) if config.baseline else 0
    return write_comparison(rows, baseline, out, config.resamples,
                            title=f"{config.eval.data}/{config.eval.split}, n = {len(examples)}")
