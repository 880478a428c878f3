"""Documents in the formats people have: UTF-8 text and Markdown, PDF, HTML and DOCX.

The format is sniffed from the bytes, not taken from the file name (sniff.py); each format has its
reader (text.py, pdf.py, html.py, docx.py), and every bad input is one InputError naming the file,
the problem and the fix. A PDF's `Document` maps character offsets back to its pages.
"""

from qfocus.documents.document import Document
from qfocus.documents.load import load_document, open_document, read_document
from qfocus.documents.source import DEFAULT_MAX_BYTES
from qfocus.documents.text import check_query, check_text, decode_text

__all__ = ["DEFAULT_MAX_BYTES", "Document", "check_query", "check_text", "decode_text", "load_document",
           "open_document", "read_document"]
