"""`qfocus synth`: spend a teacher budget on one synthetic-data strategy, resumably.

Writes `out` (triples, one JSON object per line: query, document, summary, source, strategy) and
beside it `<out>.progress` (JSON lines, named so that a `*.jsonl` glob of triples files skips it): a
first line with the settings, then one line per finished seed item (its key, triples kept, reasons
dropped, teacher calls and tokens). A killed run resumes where it stopped: a half-written last line
and the triples of an unfinished item are removed, finished items are skipped, and the
ledger continues from the recorded costs, so the budget holds across resumes and the file equals
an uninterrupted run's (greedy decoding; the item order and excerpts are drawn from --seed).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from qfocus.errors import InputError
from qfocus.synth.config import SynthConfig
from qfocus.synth.steps import STEPS, seed_items
from qfocus.synth.teacher import Ledger, Teacher

RESUMABLE = ("out", "budget")  # settings a resumed run may change


def progress_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".progress")


def load_teacher(config: SynthConfig, on_convert=None) -> Teacher:
    from qfocus.config import SummarizeConfig
    from qfocus.models import load_model
    from qfocus.strategies import get_strategy

    summarize = SummarizeConfig(model=config.teacher, dtype=config.dtype, decode_weights=config.decode_weights,
                                adapter=config.adapter, context_window=config.context_window, generation=config.generation)
    strategy = get_strategy("truncate", summarize)
    lm = load_model(config.teacher, dtype=config.dtype, adapter=strategy.adapter_folder(), on_convert=on_convert,
                    decode_weights=config.decode_weights)
    return Teacher(lm, strategy, config.generation)


def synthesize(config: SynthConfig, teacher: Teacher | None = None,
               on_item: Callable[[int, int], None] | None = None, on_convert=None) -> dict:
    """Run (or resume) the synthesis `config` describes; returns the totals (also in the progress file)."""
    from qfocus.data import load_dataset

    seeds = seed_items(load_dataset(config.data, config.split, config.data_dir), config.strategy)
    random.Random(config.seed).shuffle(seeds)
    out, progress = Path(config.out), progress_path(config.out)
    done = _resume(config, out, progress)
    teacher = teacher or load_teacher(config, on_convert)
    for record in done.values():
        teacher.ledger.add(Ledger(record["calls"], record["prompt_tokens"], record["answer_tokens"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    if on_item is not None:
        on_item(min(teacher.ledger.calls, config.budget), config.budget)
    step = STEPS[config.strategy]
    with out.open("a", encoding="utf-8") as triples, progress.open("a", encoding="utf-8") as log:
        if progress.stat().st_size == 0:
            log.write(json.dumps({"config": _settings(config)}) + "\n")
        for seed in seeds:
            if teacher.ledger.calls >= config.budget:
                break
            if seed.key in done:
                continue
            before = teacher.ledger.copy()
            outcome = step(teacher, seed, config)
            for triple in outcome.triples:
                triples.write(json.dumps(triple, ensure_ascii=False) + "\n")
            triples.flush()
            record = {"key": seed.key, "kept": len(outcome.triples), "dropped": dict(outcome.dropped),
                      **teacher.ledger.minus(before).to_dict()}
            log.write(json.dumps(record) + "\n")
            log.flush()
            done[seed.key] = record
            if on_item is not None:
                on_item(min(teacher.ledger.calls, config.budget), config.budget)
    return totals(done.values(), seeds=len(seeds))


def totals(records, seeds: int | None = None) -> dict:
    """Items, triples, teacher calls and tokens, and the filter's reasons, summed over progress records."""
    records = list(records)
    dropped = Counter()
    for record in records:
        dropped.update(record["dropped"])
    kept = sum(r["kept"] for r in records)
    calls = sum(r["calls"] for r in records)
    summary = {"items": len(records), "triples": kept, "calls": calls,
               "prompt_tokens": sum(r["prompt_tokens"] for r in records),
               "answer_tokens": sum(r["answer_tokens"] for r in records),
               "calls_per_triple": round(calls / kept, 2) if kept else None, "dropped": dict(sorted(dropped.items()))}
    if seeds is not None:
        summary["seed_items"] = seeds
    return summary


def _settings(config: SynthConfig) -> dict:
    return {k: v for k, v in json.loads(json.dumps(config.to_dict())).items() if k not in RESUMABLE}


def _resume(config: SynthConfig, out: Path, progress: Path) -> dict[str, dict]:
    """The finished items of an earlier run into the same files (after checking it had the same
    settings), with both files cut back to whole lines and `out` to the finished items' triples."""
    if not progress.is_file():
        if out.is_file() and out.stat().st_size:
            raise InputError(f"{out} exists without {progress.name}: choose another --out, or remove it")
        return {}
    lines = _whole_lines(progress)
    if lines and "config" in lines[0]:
        before = {**_settings(SynthConfig()), **lines[0]["config"]}  # a setting added since: its default then
        changed = sorted(k for k, v in _settings(config).items() if before.get(k) != v)
        if changed:
            raise InputError(f"{out} was written with other settings ({', '.join(changed)}): "
                             "use the same options to resume, or choose another --out")
    done = {r["key"]: r for r in lines if "key" in r}
    if done and not out.is_file():
        raise InputError(f"{progress.name} records finished items but {out} is gone: remove {progress.name} to start over")
    progress.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    kept = [r for r in _whole_lines(out) if r.get("source") in done] if out.is_file() else []
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
    return done


def _whole_lines(path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines file whose last line may have been cut by a kill."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise InputError(f"{path}:{number}: not valid JSON: this file was not written by `qfocus synth`") from None
    return records
