"""(query, document, summary) triples in one JSON object per line: what `qfocus synth` writes and
`qfocus train --data-file` reads.

    {"query": "...", "document": "...", "summary": "...", ...}   # other keys (source, strategy) are kept for people

    triples = read_triples("runs/synth/qmsum-instructds.jsonl")
"""

from __future__ import annotations

from pathlib import Path

from qfocus.data.example import read_jsonl, require
from qfocus.errors import InputError

FIELDS = ("query", "document", "summary")


def triple_record(query: str, document: str, summary: str, **extra) -> dict:
    """The JSON object of one triple; `extra` keys (source, strategy, ...) follow the three fields."""
    return {"query": query, "document": document, "summary": summary, **extra}


def read_triples(path: str | Path) -> list[tuple[str, str, str]]:
    """Every (query, document, summary) of a triples file; a missing or empty field fails with file:line."""
    if not Path(path).is_file():
        raise InputError(f"{path}: no such triples file: pass a file `qfocus synth --out` wrote")
    triples = []
    for number, record in read_jsonl(path):
        where = f"{path}:{number}"
        if not isinstance(record, dict):
            raise InputError(f"{where}: each line must be a JSON object with {', '.join(FIELDS)}")
        values = tuple(require(record, name, where) for name in FIELDS)
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise InputError(f"{where}: {', '.join(FIELDS)} must be non-empty strings")
        triples.append(values)
    if not triples:
        raise InputError(f"{path}: no triples in this file: it should hold one JSON object per line")
    return triples
