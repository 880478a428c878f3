"""LIFT adapters cached per (document, model, settings) under `<qfocus cache>/lift/<key>/`.

A second query about the same document loads the adapted weights instead of training again. The
key is a hash of everything the weights depend on: the document's token ids, the base model's
identity and dtype, the window, every LIFT setting and any adapter already attached. An entry is
written into a hidden temporary folder and renamed into place only when complete, so an
interrupted adaptation (Ctrl-C) leaves nothing that could be loaded; `clear` removes stale
temporary folders too.

    <key>/adapter.safetensors   the adapter's tensors
    <key>/lift.json             settings, document tokens, steps, loss curve, seconds, created
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from qfocus.models.cache import cache_dir

FORMAT = 1
TENSORS, META = "adapter.safetensors", "lift.json"


def lift_root() -> Path:
    return cache_dir() / "lift"


def document_digest(ids: list[int]) -> str:
    return hashlib.sha256(array("q", ids).tobytes()).hexdigest()


def cache_key(parts: dict) -> str:
    """A short stable hash of `parts` (JSON-serialisable: the settings the weights depend on)."""
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class Entry:
    tensors: dict[str, torch.Tensor]
    meta: dict


def load(key: str) -> Entry | None:
    """The cached entry for `key`, or None (absent or unreadable)."""
    folder = lift_root() / key
    try:
        return Entry(load_file(folder / TENSORS), json.loads((folder / META).read_text()))
    except (OSError, ValueError):
        return None


def store(key: str, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write an entry atomically: a temporary folder renamed into place, removed on any error."""
    root = lift_root()
    root.mkdir(parents=True, exist_ok=True)
    target, staging = root / key, root / f".tmp-{key}-{os.getpid()}"
    try:
        staging.mkdir()
        save_file(tensors, staging / TENSORS)
        (staging / META).write_text(json.dumps({**meta, "created": time.time()}, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
