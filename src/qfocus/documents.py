"""Reading a document from a file or stdin, with one clear error for each kind of bad input."""

from __future__ import annotations

import sys
from pathlib import Path

from qfocus.errors import InputError

DEFAULT_MAX_BYTES = 50_000_000


def read_document(source: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """UTF-8 text of the file `source` ("-" for stdin), checked to be non-empty readable text."""
    name = "stdin" if source == "-" else source
    data = _read_stdin(max_bytes) if source == "-" else _read_file(Path(source), max_bytes)
    if len(data) > max_bytes:
        raise _too_large(name, max_bytes)
    return decode_text(data, name)


def decode_text(data: bytes, name: str) -> str:
    """Decode UTF-8 (a BOM is dropped); refuse binary data and other encodings, naming the offset."""
    nul = data.find(b"\0")
    if nul >= 0:
        raise InputError(f"{name} looks binary (NUL byte at offset {nul}): pass a UTF-8 text or Markdown file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{name} is not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}): "
            "convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    check_text(text, name)
    return text


def check_text(text: str, name: str = "document") -> None:
    """Refuse empty or whitespace-only text."""
    if not text.strip():
        raise InputError(f"{name} is empty: pass a file (or stdin) with the text to summarise")


def check_query(query: str | None) -> str:
    """The query stripped; refuse an empty one."""
    if query is None or not query.strip():
        raise InputError('the query is empty: pass what the summary should answer, e.g. --query "What was decided?"')
    return query.strip()


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
