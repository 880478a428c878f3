"""DOCX with python-docx: the body's paragraphs and tables in document order.

A paragraph is a block; a table is a block with one line per row, its cells joined by " | " (a cell
merged across columns once; a table nested in a cell read inside it). Blocks are separated by a
blank line, as paragraphs are in a text file. Headers, footers and comments are not read.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from qfocus.documents.document import Document
from qfocus.documents.text import one_line
from qfocus.errors import InputError


def read_docx(data: bytes, name: str) -> Document:
    """The text of the DOCX `data`."""
    import docx

    try:
        blocks = list(_blocks(docx.Document(io.BytesIO(data))))
    except Exception as error:  # python-docx raises zip, XML and package errors on a damaged file
        raise InputError(f"{name} cannot be read as a DOCX ({one_line(error)}): open it in Word or LibreOffice "
                         "and save it again, or export it as PDF") from None
    return Document("\n\n".join(blocks), "docx", name)


def _blocks(container) -> Iterator[str]:
    """The non-empty paragraphs and tables of a document body or a table cell, in order."""
    from docx.table import Table

    for block in container.iter_inner_content():
        text = _table(block) if isinstance(block, Table) else block.text.strip()
        if text:
            yield text


def _table(table) -> str:
    rows = []
    for row in table.rows:
        cells, previous = [], None
        for cell in row.cells:
            if cell._tc is previous:  # merged across columns: python-docx repeats the cell
                continue
            previous = cell._tc
            cells.append(" ".join(" ".join(_blocks(cell)).split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)
