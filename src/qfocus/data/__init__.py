"""Query-focused summarisation datasets in their native formats, read from the user's own copy.

    examples = load_dataset("qmsum", "val")                  # ../shared/data/qmsum/val.jsonl
    examples = load_dataset("covidet", "train", "/data/covidet")
    triples = training_triples(examples)                     # one (query, document, summary) per reference
"""

from __future__ import annotations

from pathlib import Path

from qfocus.data.covidet import read_covidet
from qfocus.data.example import Example
from qfocus.data.qmsum import read_qmsum
from qfocus.data.squality import read_squality
from qfocus.data.triples import read_triples, triple_record
from qfocus.errors import InputError

# dataset → split → file name inside its folder
# (test files are not shipped with the project's data: they are for final numbers only, never tuning)
FILES = {
    "qmsum": {"train": "train.jsonl", "val": "val.jsonl", "test": "test.jsonl"},
    "qmsum-gold": {"train": "train.jsonl", "val": "val.jsonl", "test": "test.jsonl"},
    "squality": {"train": "train.jsonl", "val": "dev.jsonl", "test": "test.jsonl"},
    "covidet": {"train": "train.json", "val": "val.json", "test": "test.json"},
}
DATASETS = tuple(FILES)


def default_data_dir(name: str) -> Path:
    return Path("..") / "shared" / "data" / name.removesuffix("-gold")


def load_dataset(name: str, split: str, data_dir: str | Path | None = None,
                 data_file: str | Path | None = None) -> list[Example]:
    """All examples of one split; `data_dir` is the folder with the dataset's native files, and
    `data_file` (any file in the dataset's format) replaces the split's file."""
    if name not in FILES:
        raise InputError(f"unknown dataset '{name}': use one of {', '.join(DATASETS)}")
    if data_file is None and split not in FILES[name]:
        raise InputError(f"unknown split '{split}' of {name}: use one of {', '.join(FILES[name])}")
    path = Path(data_file) if data_file is not None else Path(data_dir or default_data_dir(name)) / FILES[name][split]
    if data_file is None and split == "test" and not path.is_file():
        raise InputError(f"{path}: no test file: put the dataset's {FILES[name][split]} in --data-dir, or pass --data-file")
    examples = _read(name, path)
    if not examples:
        raise InputError(f"{path}: no examples in this file: check that it is the {name} format")
    return examples


def spread(examples: list, limit: int | None) -> list:
    """`limit` examples spread evenly over the whole list (every len/limit-th, from the first), in order."""
    if limit is None or limit >= len(examples):
        return list(examples)
    return [examples[i * len(examples) // limit] for i in range(limit)]


def _read(name: str, path: Path) -> list[Example]:
    if name == "squality":
        return list(read_squality(path))
    if name == "covidet":
        return list(read_covidet(path))
    return list(read_qmsum(path, gold_spans=name == "qmsum-gold"))


def training_triples(examples: list[Example]) -> list[tuple[str, str, str]]:
    """(query, document, summary): one per reference, as the reference code trains on multi-reference data."""
    return [(e.query, e.document, reference) for e in examples for reference in e.references]


__all__ = ["DATASETS", "Example", "load_dataset", "spread", "read_covidet", "read_qmsum", "read_squality", "read_triples",
           "training_triples", "triple_record"]
