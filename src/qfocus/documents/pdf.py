"""PDF with pypdf: each page's text layer (stripped), pages joined by a blank line, and where each starts.

pypdf reads damaged files leniently and logs what it repaired on the `pypdf` logger; those warnings
are kept off the user's stderr while a PDF is read. Anything it cannot read is one InputError that
names the file and pypdf's reason. An encrypted PDF is opened with the empty password (files that
only restrict printing or copying); one that needs a real password is refused.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from qfocus.documents.document import Document
from qfocus.documents.text import one_line
from qfocus.errors import InputError

PAGE_SEPARATOR = "\n\n"


def read_pdf(data: bytes, name: str) -> Document:
    """The text of every page of the PDF `data`, with the offset where each page starts."""
    with _quiet_pypdf():
        texts = _page_texts(data, name)
    if not any(text.strip() for text in texts):
        raise InputError(f"{name} has no text layer ({len(texts)} page{'s'[:len(texts) != 1]} without text, e.g. "
                         "a scan): run OCR first, e.g. `ocrmypdf in.pdf out.pdf`, and pass the result")
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + len(PAGE_SEPARATOR)
    return Document(PAGE_SEPARATOR.join(texts), "pdf", name, tuple(starts))


def _page_texts(data: bytes, name: str) -> list[str]:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise InputError(f"{name} is encrypted: remove the password, e.g. "
                             "`qpdf --decrypt --password=PASSWORD in.pdf out.pdf`, and pass the decrypted file")
        return [(page.extract_text() or "").strip() for page in reader.pages]
    except InputError:
        raise
    except DependencyError:  # AES encryption, even with an empty password, needs `cryptography`
        raise InputError(f"{name} is encrypted with AES, which pypdf decrypts only with the cryptography "
                         "package: `pip install cryptography`, or pass a decrypted copy") from None
    except Exception as error:  # pypdf raises many types on damaged files; each becomes one line
        raise InputError(f"{name} cannot be read as a PDF ({one_line(error)}): check that the file is "
                         "complete, or export it again as PDF") from None


_lock = threading.Lock()
_readers = 0  # PDFs being read now; the logger's level is restored when the last one ends
_saved_level = logging.NOTSET


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """Raise the `pypdf` logger to ERROR while any thread reads a PDF (its repair warnings)."""
    global _readers, _saved_level
    logger = logging.getLogger("pypdf")
    with _lock:
        if _readers == 0:
            _saved_level = logger.level
            logger.setLevel(logging.ERROR)
        _readers += 1
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0:
                logger.setLevel(_saved_level)
