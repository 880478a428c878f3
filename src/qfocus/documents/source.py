"""The bytes of a document: a file path, or "-" for stdin, refused past a size limit."""

from __future__ import annotations

import sys
from pathlib import Path

from qfocus.errors import InputError

DEFAULT_MAX_BYTES = 50_000_000


def read_source(source: str, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes, str]:
    """(the bytes, the name errors use) of the file `source`, or of stdin for "-"."""
    name = "stdin" if source == "-" else source
    data = _read_stdin(max_bytes) if source == "-" else _read_file(Path(source), max_bytes)
    check_size(data, name, max_bytes)
    return data, name


def check_size(data: bytes, name: str, max_bytes: int) -> None:
    """Refuse more than `max_bytes` bytes."""
    if len(data) > max_bytes:
        raise _too_large(name, max_bytes)


def _read_file(path: Path, max_bytes: int) -> bytes:
    if not path.exists():
        raise InputError(f"{path}: no such file: check the path")
    if path.is_dir():
        raise InputError(f"{path} is a directory: pass a text file inside it")
    try:
        if path.stat().st_size > max_bytes:
            raise _too_large(str(path), max_bytes)
        return path.read_bytes()
    except PermissionError:
        raise InputError(f"{path} cannot be read (permission denied): check its permissions") from None
    except OSError as error:
        raise InputError(f"{path} cannot be read ({error.strerror}): check the file") from None


def _too_large(name: str, max_bytes: int) -> InputError:
    return InputError(f"{name} is larger than the {max_bytes:,}-byte limit: pass a smaller document or raise --max-bytes")


def _read_stdin(max_bytes: int) -> bytes:
    if sys.stdin is None:
        raise InputError("stdin is closed: pass a file path instead of -")
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream (tests, notebooks)
        return sys.stdin.read(max_bytes + 1).encode("utf-8")
    return stream.read(max_bytes + 1)
