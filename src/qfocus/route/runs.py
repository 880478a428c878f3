"""Per-example scores of an evaluation run folder (`qfocus eval` / `qfocus compare` output)."""

from __future__ import annotations

import json
from pathlib import Path

from qfocus.errors import InputError


def read_scores(folder: str | Path) -> dict[str, dict]:
    """id → {rouge1, rouge2, rougeLsum} from predictions.jsonl (or a committed per_example.json)."""
    folder = Path(folder)
    predictions, trimmed = folder / "predictions.jsonl", folder / "per_example.json"
    if predictions.is_file():
        rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif trimmed.is_file():
        rows = json.loads(trimmed.read_text(encoding="utf-8"))
    else:
        raise InputError(f"{folder}: no predictions.jsonl: pass a folder written by `qfocus eval --out` or `qfocus compare`")
    try:
        return {row["id"]: row["scores"] for row in rows}
    except (KeyError, TypeError):
        raise InputError(f"{folder}: its rows lack an id or scores: pass a folder written by `qfocus eval --out`") from None


def paired(small: str | Path, large: str | Path) -> tuple[list[str], list[dict], list[dict]]:
    """The ids both runs scored (in the small run's order) and their scores in each."""
    return pair_scores(read_scores(small), read_scores(large), f"{small} and {large}")


def pair_scores(a: dict[str, dict], b: dict[str, dict], runs: str) -> tuple[list[str], list[dict], list[dict]]:
    """`paired` on scores already read (`read_scores`); ids only one run scored are left out (the
    router's info records how many each run scored)."""
    ids = [i for i in a if i in b]
    if not ids:
        raise InputError(f"{runs} share no example: score the same split with both")
    return ids, [a[i] for i in ids], [b[i] for i in ids]
