"""Which format a document's bytes are, from their content alone (a PDF named .txt is still a PDF).

  pdf     "%PDF-" within the first 1024 bytes (where PDF readers look for the header)
  docx    a ZIP archive holding word/document.xml
  zip     any other ZIP archive (XLSX, ODT, an archive of files): refused
  ole     a legacy Office file (.doc, .xls, .ppt): refused
  html    after an optional BOM and whitespace, "<!doctype html" or "<html"; or markup (a leading
          "<": an XML declaration, a comment, <head>) with "<html" or "<body" in the first 2 KB
  text    everything else, read as UTF-8 with its own errors

A Markdown file is text even when it quotes HTML further down: only a file that opens with markup
can be HTML without saying so first.
"""

from __future__ import annotations

import io
import zipfile

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DOCX_PART = "word/document.xml"


def sniff(data: bytes) -> str:
    """One of "pdf", "docx", "zip", "ole", "html", "text"."""
    if data.find(b"%PDF-", 0, 1024) >= 0:
        return "pdf"
    if data.startswith(_ZIP):
        return "docx" if _is_docx(data) else "zip"
    if data.startswith(_OLE):
        return "ole"
    return "html" if _is_html(data) else "text"


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _DOCX_PART in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):  # a truncated archive: its local headers still name the parts
        return _DOCX_PART.encode() in data


def _is_html(data: bytes) -> bool:
    head = data[:2048].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return True
    return head.startswith(b"<") and b"\0" not in head and (b"<html" in head or b"<body" in head)
