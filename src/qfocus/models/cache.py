"""Convert an embedded GGUF model once into a safetensors checkpoint under the user cache.

Loading from GGUF de-quantises every tensor (~20 s for SmolLM2); the cached copy reloads in about a
second. The cache lives in `$QFOCUS_CACHE` or `~/.cache/qfocus`. A copy is keyed by the GGUF files'
content (size and a hash of their first and last MiB), so reinstalling the same package reuses it,
and a new version of the package replaces the old copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path

from qfocus.models.embedded import EmbeddedModel


def cache_dir() -> Path:
    """The root of qfocus's cache: `$QFOCUS_CACHE`, else `~/.cache/qfocus`."""
    return Path(os.environ.get("QFOCUS_CACHE") or Path.home() / ".cache" / "qfocus")


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        size = path.stat().st_size
        digest.update(f"{path.name}:{size};".encode())
        with path.open("rb") as file:
            digest.update(file.read(1 << 20))
            file.seek(max(0, size - (1 << 20)))
            digest.update(file.read(1 << 20))
    return digest.hexdigest()[:12]


def cached_checkpoint(spec: EmbeddedModel) -> tuple[Path, bool]:
    """Path of the safetensors copy of `spec` and whether it already exists."""
    target = cache_dir() / "models" / f"{spec.name}-{_fingerprint(spec.part_paths())}"
    return target, (target / "config.json").is_file()


def convert_gguf(spec: EmbeddedModel, target: Path) -> Path:
    """Write `spec` as a safetensors checkpoint (fp32, as de-quantised) at `target`, atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".convert-") as work, _quiet_tqdm():
        gguf = _joined_gguf(spec, Path(work))
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are plain tensors now; drop the GGUF quantiser so save_pretrained writes them.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        staged = Path(work, "checkpoint")
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    for stale in target.parent.glob(f"{spec.name}-*"):  # copies made from an older package version
        if stale != target and (stale / "config.json").is_file():
            shutil.rmtree(stale, ignore_errors=True)
    return target


@contextlib.contextmanager
def _quiet_tqdm():
    """transformers' GGUF reader draws a bare tqdm bar on stderr; callers show their own status instead."""
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def _joined_gguf(spec: EmbeddedModel, work: Path) -> Path:
    """A single GGUF file: the package's own file, or the parts joined inside `work`."""
    parts = spec.part_paths()
    if len(parts) == 1:
        return parts[0]
    joined = work / spec.gguf_name
    with joined.open("wb") as out:
        for part in parts:
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, 16 << 20)
    return joined
