"""Plain text: UTF-8 decoding and the checks every document and query pass, one clear error each."""

from __future__ import annotations

from qfocus.errors import InputError


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


def one_line(error: Exception) -> str:
    """A library's exception as a short one-line reason, for an InputError that names the file."""
    reason = " ".join(str(error).split())[:160]
    return f"{type(error).__name__}: {reason}" if reason else type(error).__name__
