"""A document from bytes, a file or stdin, in the format its content says (qfocus.documents.sniff)."""

from __future__ import annotations

from collections.abc import Callable

from qfocus.documents.docx import read_docx
from qfocus.documents.document import Document
from qfocus.documents.html import read_html
from qfocus.documents.pdf import read_pdf
from qfocus.documents.sniff import sniff
from qfocus.documents.source import DEFAULT_MAX_BYTES, check_size, read_source
from qfocus.documents.text import check_text, decode_text
from qfocus.errors import InputError


def _read_text(data: bytes, name: str) -> Document:
    return Document(decode_text(data, name), "text", name)


_READERS: dict[str, Callable[[bytes, str], Document]] = {
    "text": _read_text, "pdf": read_pdf, "html": read_html, "docx": read_docx,
}
_REFUSED = {
    "zip": "is a ZIP archive, not a DOCX (it has no word/document.xml): unzip it and pass the document inside",
    "ole": "is a legacy Office file (.doc, .xls or .ppt): save it as DOCX or PDF and pass that",
}


def load_document(data: bytes, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """The document in `data` (text, PDF, HTML or DOCX, sniffed from the content); `name` is for errors."""
    check_size(data, name, max_bytes)
    kind = sniff(data)
    if kind in _REFUSED:
        raise InputError(f"{name} {_REFUSED[kind]}")
    document = _READERS[kind](data, name)
    check_text(document.text, name)
    return document


def open_document(source: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """The document in the file `source` ("-" for stdin), in any format `load_document` reads."""
    data, name = read_source(source, max_bytes)
    return load_document(data, name, max_bytes)


def read_document(source: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The text of the file `source` ("-" for stdin), checked to be non-empty readable text."""
    return open_document(source, max_bytes).text
