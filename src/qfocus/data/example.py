"""One (query, document, references) example, the unit every loader yields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qfocus.errors import InputError


@dataclass(frozen=True)
class Example:
    id: str
    query: str
    document: str
    references: tuple[str, ...]


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a malformed line fails with file:line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file: pass the folder holding the dataset's files")
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}:{number}: not valid JSON ({error.msg})") from None


def require(record: dict, field: str, where: str):
    """record[field], or an error naming the place and the missing field."""
    if field not in record:
        raise InputError(f"{where}: missing field '{field}'")
    return record[field]
