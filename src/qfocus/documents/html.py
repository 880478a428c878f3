"""HTML: the page's main text with trafilatura, without its navigation, footer and scripts.

Three tries before a page is refused: trafilatura's main-text extraction; trafilatura favouring
recall (a short page, an unusual layout); then every visible text node, via lxml. The bytes are
UTF-8 unless the page declares another charset in its first 2 KB.
"""

from __future__ import annotations

import codecs
import re

from qfocus.documents.document import Document
from qfocus.documents.text import decode_text
from qfocus.errors import InputError

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_INVISIBLE = ("script", "style", "noscript", "template", "head")


def read_html(data: bytes, name: str) -> Document:
    """The main text of the HTML page `data`."""
    import trafilatura

    page = _decode(data, name)
    text = (trafilatura.extract(page, include_comments=False, include_tables=True)
            or trafilatura.extract(page, include_comments=False, include_tables=True, favor_recall=True)
            or _visible_text(page))
    if not text or not text.strip():
        raise InputError(f"{name} is an HTML page with no readable text: save the page's text "
                         "(or print it to PDF) and pass that")
    return Document(text, "html", name)


def _decode(data: bytes, name: str) -> str:
    """UTF-8 (BOM or not), else the charset the page declares, else the UTF-8 error of plain text."""
    declared = _CHARSET.search(data[:2048])
    if declared and not data.startswith(codecs.BOM_UTF8):
        try:
            return data.decode(declared.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data, name)


def _visible_text(page: str) -> str:
    """Every text node outside scripts, styles and <head>, one per line (so no two words run together)."""
    import lxml.html
    from lxml import etree

    try:
        tree = lxml.html.document_fromstring(page)
    except (etree.ParserError, ValueError):  # an empty document
        return ""
    etree.strip_elements(tree, *_INVISIBLE, etree.Comment, with_tail=False)
    lines = (" ".join(node.split()) for node in tree.itertext())
    return "\n".join(line for line in lines if line)
