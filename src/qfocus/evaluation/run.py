"""`qfocus eval`: generate for a dataset split with any strategy (and adapter), then score with ROUGE.

Writes into `out/`:
  predictions.jsonl  one line per example: id, query, prediction, references, prompt_tokens, seconds, scores
                     (seconds: a batched example's share of its batch's wall time)
  metrics.json       ROUGE-1/2/Lsum F1 ×100 (max over references), their geometric mean, mean prompt
                     tokens, seconds per example, peak RSS, the dtype the model ran in, the batch size
                     used, the example count and the full config
  settings.json      the config, written first: `resume=True` continues a stopped run only under the
                     same settings, keeping the answers already in predictions.jsonl
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qfocus.config import SummarizeConfig
from qfocus.errors import InputError

PICKS = ("spread", "first", "documents")
SETTINGS_FILE = "settings.json"
# What a resumed run may change: where the folder and the data live, --resume itself, and the batch size
# (batched answers equal one-at-a-time ones wherever batches are used on a CPU; on a GPU up to the last bits).
MOVABLE = ("out", "resume", "data_dir", "batch_size")
# A run written before an option existed ran with the value that keeps the old behaviour: its default,
# except for these options, whose default is not what the code did before them (no broad rule at all,
# then the first rule).
BEFORE_OPTION = {"summarize.retrieval.broad_reach": "all", "summarize.retrieval.broad_below": 0.0}


@dataclass
class EvalConfig:
    """What to evaluate and where to write it."""

    data: str = field(default="qmsum", metadata={"help": "Dataset: qmsum, qmsum-gold, squality or covidet."})
    split: str = field(default="val", metadata={"help": "Split: train, val or test (test: final numbers only, never for tuning)."})
    data_dir: str | None = field(
        default=None, metadata={"help": "Folder with the dataset's native files; default ../shared/data/<name>."}
    )
    data_file: str | None = field(
        default=None, metadata={"help": "Any file in the dataset's format, instead of the split's file in --data-dir."}
    )
    limit: int | None = field(default=None, metadata={"help": "Evaluate N examples spread over the split (see --pick); default: all."})
    pick: str = field(default="spread", metadata={"help": "With --limit: spread (every k-th example over the whole split), first (the first N), or documents (every query of N documents spread over the split: lift adapts once per document)."})
    out: str = field(default="runs/eval", metadata={"help": "Folder for predictions.jsonl and metrics.json."})
    resume: bool = field(default=False, metadata={"help": "Continue a stopped run in --out: keep the answers already in its predictions.jsonl (same examples, same settings) and answer the rest."})
    batch_size: int = field(default=8, metadata={"help": "Examples answered in one batched generate call (truncate, full, retrieve; greedy; float32 on a CPU: the answers equal one at a time); 1 decodes one at a time."})
    summarize: SummarizeConfig = field(default_factory=SummarizeConfig)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise InputError(f"limit is {self.limit}: pass a positive number of examples, or leave it unset")
        if self.pick not in PICKS:
            raise InputError(f"pick is '{self.pick}': use one of {', '.join(PICKS)}")
        if self.batch_size < 1:
            raise InputError(f"batch_size is {self.batch_size}: pass a positive number such as 8 (1: one at a time)")


def load_examples(config: EvalConfig) -> list:
    """The examples `config` names: the split (or --data-file), then --limit of them by --pick."""
    from qfocus.data import load_dataset, spread

    examples = load_dataset(config.data, config.split, config.data_dir, config.data_file)
    if config.pick == "documents":
        groups: dict[str, list] = {}
        for example in examples:
            groups.setdefault(example.document, []).append(example)
        return [example for group in spread(list(groups.values()), config.limit) for example in group]
    return spread(examples, config.limit) if config.pick == "spread" else examples[: config.limit]


def evaluate(config: EvalConfig, on_example: Callable[[int, int], None] | None = None, on_convert=None) -> dict:
    """Run the evaluation described by `config`; returns the metrics written to metrics.json."""
    from qfocus.models import load_for
    from qfocus.strategies import get_strategy

    examples = load_examples(config)
    strategy = get_strategy(config.summarize.strategy, config.summarize)
    lm = load_for(config.summarize, strategy.adapter_folder(), on_convert)
    return run_examples(lm, strategy, examples, config, on_example)


def batches(lm, strategy, config: EvalConfig) -> bool:
    """Whether examples go in batches: only where the answers stay those of one at a time, and it pays.

    One-prompt strategies, greedy decoding, and on a CPU float32 weights not packed for decoding: in
    bf16 on a CPU, batched answers differed from one-at-a-time ones in 13 of 16 QMSum queries (GEMM
    rounding depends on the batch shape) and batches were no faster (benchmarks/results/speed_cpu.json);
    with 4-bit packed projections (which read bf16 activations) in 4 of 16, at 1.06x the speed
    (benchmarks/results/speed_eval_cpu.json). On a GPU bf16 batches are the point; their answers may
    differ from one-at-a-time ones in the last bits.
    """
    import torch

    greedy = config.summarize.generation.temperature == 0
    cpu_exact = next(lm.model.parameters()).dtype == torch.float32 and lm.packed is None
    exact = cpu_exact or lm.device.type != "cpu"
    return strategy.batched and greedy and exact and config.batch_size > 1


def run_examples(lm, strategy, examples: list, config: EvalConfig,
                 on_example: Callable[[int, int], None] | None = None) -> dict:
    """Answer and score `examples` with a loaded model; writes predictions.jsonl and metrics.json to
    `config.out` and returns the metrics."""
    from qfocus.evaluation.peak import PeakRSS
    from qfocus.evaluation.rouge import aggregate, rouge

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = answered(out, examples, config)
    if _complete(out, examples, rows):
        return json.loads((out / "metrics.json").read_text())  # finished before: nothing to answer
    loaded = _loaded(lm)
    saved = _read_settings(out) if rows else None
    if saved is not None and saved.get("loaded", loaded) != loaded:
        raise InputError(f"{out} holds answers of the model loaded as {saved['loaded']}, not {loaded}: "
                         "resume on the same kind of machine with the same --dtype, or choose another --out")
    size = config.batch_size if batches(lm, strategy, config) else 1
    rows = rows[: len(rows) - len(rows) % size]  # whole batches only: the rest are answered as one run would
    kept = len(rows)
    _write(out / SETTINGS_FILE, json.dumps({**asdict(config), "loaded": loaded}, indent=2) + "\n")
    _write(out / "predictions.jsonl", "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    with (out / "predictions.jsonl").open("a", encoding="utf-8") as predictions, PeakRSS() as peak:
        if on_example is not None and kept:
            on_example(kept, len(examples))
        for begin in range(kept, len(examples), size):
            batch = examples[begin : begin + size]
            summaries = strategy.summarize_batch(lm, [(e.document, e.query) for e in batch])
            for example, summary in zip(batch, summaries):
                scores = rouge(summary.summary, example.references)
                row = {"id": example.id, "query": example.query, "prediction": summary.summary,
                       "references": list(example.references), "prompt_tokens": summary.prompt_tokens,
                       "model_calls": summary.model_calls, "seconds": summary.seconds, "scores": scores}
                if summary.training is not None:  # lift: steps, losses, whether the adaptation was cached
                    row["training"] = summary.training
                predictions.write(json.dumps(row, ensure_ascii=False) + "\n")
                rows.append(row)
            predictions.flush()
            if on_example is not None:
                on_example(len(rows), len(examples))
    metrics = {
        **{k: round(v, 3) for k, v in aggregate([r["scores"] for r in rows]).items()},
        "mean_prompt_tokens": round(sum(r["prompt_tokens"] for r in rows) / len(rows), 1),
        "mean_model_calls": round(sum(r["model_calls"] for r in rows) / len(rows), 2),
        "seconds_per_example": round(sum(r["seconds"] for r in rows) / len(rows), 3),
        "peak_rss_mb": peak.mb,
        **loaded,
        "batch_size": size,
        "examples": len(rows),
        "resumed": kept,  # answers kept from a stopped run (--resume); seconds are each answer's own, peak RSS this process's
        "config": asdict(config),
    }
    _write(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return metrics


def answered(out: Path, examples: list, config: EvalConfig) -> list[dict]:
    """The rows a stopped run in `out` already wrote (with `config.resume`; otherwise none: a new run
    replaces the folder's answers). Refuses a folder written with other settings or other examples. A
    setting the folder does not record (an option added since) counts as the value that kept the old
    behaviour (BEFORE_OPTION; else its default)."""
    path = out / "predictions.jsonl"
    if not config.resume or not path.is_file():
        return []
    saved = _read_settings(out)
    if saved is None:
        raise InputError(f"{out} holds answers without the settings they were made with (written before --resume "
                         "existed): choose another --out")
    defaults = json.loads(json.dumps(asdict(EvalConfig())))  # for options added since the run (BEFORE_OPTION)
    changed = _differences(_filled(saved, defaults), json.loads(json.dumps(asdict(config))))
    changed = [name for name in changed if _matters(name, config.summarize.strategy)]
    if changed:
        raise InputError(f"{out} holds a run with other settings ({', '.join(changed)}): "
                         "resume with the same options, or choose another --out")
    rows = []
    for line in path.read_text(encoding="utf-8").split("\n"):  # not splitlines(): answers may hold U+2028
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # the line being written when the run stopped (or the empty last one)
            break
    ids = [e.id for e in examples]
    if len(rows) > len(ids) or [r["id"] for r in rows] != ids[: len(rows)]:
        raise InputError(f"{out}/predictions.jsonl answers other examples than these: "
                         "resume with the same data, split, --limit and --pick, or choose another --out")
    return rows


def finished(config: EvalConfig, examples: list) -> bool:
    """Whether `config.out` holds a finished run of `examples` that `--resume` leaves as it is (checking
    its settings and examples as `answered` does)."""
    out = Path(config.out)
    return _complete(out, examples, answered(out, examples, config))


def _complete(out: Path, examples: list, rows: list[dict]) -> bool:
    return bool(rows) and len(rows) == len(examples) and (out / "metrics.json").is_file()


def _read_settings(out: Path) -> dict | None:
    """settings.json, or for a finished run without one the config its metrics.json records."""
    for name, key in ((SETTINGS_FILE, None), ("metrics.json", "config")):
        if (out / name).is_file():
            try:
                saved = json.loads((out / name).read_text())
            except json.JSONDecodeError:
                raise InputError(f"{out / name} is not JSON (cut short?): choose another --out") from None
            return saved[key] if key else saved
    return None


def _filled(saved: dict, defaults: dict, prefix: str = "") -> dict:
    """`saved` with the settings it lacks (options added after it was written) as they were before the
    option existed: BEFORE_OPTION's value, else the option's default."""
    out = dict(saved)
    for key, value in defaults.items():
        if key not in out:  # a whole sub-config missing is filled option by option
            out[key] = _filled({}, value, f"{prefix}{key}.") if isinstance(value, dict) else BEFORE_OPTION.get(prefix + key, value)
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = _filled(out[key], value, f"{prefix}{key}.")
    return out


def _matters(setting: str, strategy: str) -> bool:
    """Whether the dotted `setting` can change `strategy`'s answers: a retrieval setting only for the
    strategies that read it (`Strategy.retrieval_settings`)."""
    from qfocus.strategies import STRATEGIES

    if not setting.startswith("summarize.retrieval.") or strategy not in STRATEGIES:
        return True
    reads = STRATEGIES[strategy].retrieval_settings
    return "*" in reads or setting.rsplit(".", 1)[1] in reads


def _differences(before: dict, now: dict, prefix: str = "") -> list[str]:
    """Dotted names of the settings that differ (MOVABLE ones aside; keys `now` lacks are not settings)."""
    changed = []
    for key, value in now.items():
        if not prefix and key in MOVABLE:
            continue
        old = before.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            changed += _differences(old, value, f"{prefix}{key}.")
        elif old != value:
            changed.append(prefix + key)
    return changed


def _loaded(lm) -> dict:
    """What the loaded model resolved `auto` to: a resumed run must answer with the same."""
    return {"dtype": str(next(lm.model.parameters()).dtype).removeprefix("torch."),
            "decode_weights": "int4" if lm.packed else "full", "device": lm.device.type}


def _write(path: Path, text: str) -> None:
    """Replace `path` whole (a stop while writing leaves the old file, never half of the new)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
