"""Documents in every format qfocus reads, sniffed from their bytes: text, PDF (with its page map),
HTML and DOCX; each bad file is one InputError naming it and the fix. Every fixture is built here."""

from __future__ import annotations

import io
import json
import logging
import zipfile

import pytest

from conftest import long_text
from qfocus.cli import main
from qfocus.documents import (DEFAULT_MAX_BYTES, Document, check_query, check_text, decode_text, load_document,
                              open_document, read_document)
from qfocus.documents.sniff import sniff
from qfocus.errors import InputError

QUERY = "What was decided?"
PAGE_1 = ["The board met on Tuesday.", "It discussed the budget (and staffing)."]
PAGE_2 = ["Page two: the pumping station opens in May.", "The vote was unanimous."]


def make_pdf(pages: list[list[str]], xref_shift: int = 0) -> bytes:
    """A minimal valid PDF: one content stream of Helvetica text lines per page and a correct xref
    table (`xref_shift` moves the startxref pointer, which pypdf repairs with a logged warning)."""
    def literal(line: str) -> bytes:
        return b"(" + line.encode("latin-1").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"

    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for lines in pages:
        ops = b"BT /F1 12 Tf 72 720 Td 14 TL " + b" ".join(literal(line) + b" Tj T*" for line in lines) + b" ET"
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(ops), ops))
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                       b"/Contents %d 0 R >>" % len(objects))
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref + xref_shift)
    return bytes(out)


def rewrite_pdf(data: bytes | None = None, **encrypt) -> bytes:
    """`data` (or one blank page) written again by pypdf, encrypted when `encrypt` names passwords."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data))) if data else PdfWriter()
    if data is None:
        writer.add_blank_page(612, 792)
    if encrypt:
        writer.encrypt(**encrypt)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Minutes", level=1)
    document.add_paragraph("The board met on Tuesday.")
    table = document.add_table(rows=3, cols=2)
    for row, cells in zip(table.rows, [("Item", "Owner"), ("Budget", "Ana"), ("Staffing", "")]):
        for cell, text in zip(row.cells, cells):
            cell.text = text
    merged = table.rows[2].cells[0].merge(table.rows[2].cells[1])
    merged.text = "Staffing: two engineers"
    document.add_paragraph("")
    document.add_paragraph("The vote was unanimous.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


ARTICLE = ("The town council met on Tuesday evening and approved the budget for the coming year after a long debate.",
           "The new pumping station will be built in the spring, and the council agreed to hire two more engineers.")
PAGE = f"""<!DOCTYPE html><html><head><title>Budget news</title><script>var tracking = 1;</script></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us</a></li></ul></nav>
<article><h1>The council approves the budget</h1><p>{ARTICLE[0]}</p><p>{ARTICLE[1]}</p></article>
<footer><p>Copyright 2024 Town Gazette. All rights reserved. Privacy policy.</p></footer></body></html>"""


def naive_pages(starts: tuple[int, ...], length: int, start: int, end: int) -> list[int]:
    """The pages whose span [starts[i], starts[i + 1]) overlaps [start, end): a loop, no bisect."""
    bounds = list(starts) + [max(length, end) + 1]
    last = max(start + 1, end)
    return [i + 1 for i in range(len(starts)) if bounds[i] < last and start < bounds[i + 1]]


def error_of(data: bytes, name: str) -> str:
    with pytest.raises(InputError) as raised:
        load_document(data, name)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(name), message
    return message


# --- text: the existing behaviour, now a Document ---

def test_text_is_a_document_without_pages(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n\nThe board met.\n", encoding="utf-8")
    document = open_document(str(path))
    assert document == Document("# Notes\n\nThe board met.\n", "text", str(path))
    assert document.page_of(3) is None and document.pages_of(0, 5) == [] and document.page_count is None
    assert read_document(str(path)) == document.text


def test_existing_text_helpers_still_exported():
    assert DEFAULT_MAX_BYTES == 50_000_000
    assert decode_text("\ufeffcaf\u00e9".encode("utf-8"), "x") == "caf\u00e9"
    assert check_query("  why?  ") == "why?"
    with pytest.raises(InputError, match="notes is empty"):
        check_text(" \n", "notes")


def test_markdown_that_quotes_html_stays_text():
    text = "# Writing a web page\n\nStart with:\n\n```html\n<html><body><p>Hi</p></body></html>\n```\n"
    document = load_document(text.encode(), "guide.md")
    assert document.kind == "text" and document.text == text


@pytest.mark.parametrize("data, kind", [
    (b"%PDF-1.7\n...", "pdf"),
    (b"\r\n  %PDF-1.4 after junk", "pdf"),
    (b"PK\x03\x04 not really a zip", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "ole"),
    (b"\xef\xbb\xbf\n  <!DOCTYPE HTML><p>x", "html"),
    (b"<HTML><p>x", "html"),
    (b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body>x</body></html>', "html"),
    (b"<!-- saved page -->\n<head></head><BODY>x</BODY>", "html"),
    (b"plain text about <html> tags", "text"),
    (b"", "text"),
])
def test_sniff(data, kind):
    assert sniff(data) == kind


def test_size_limit_applies_to_bytes_given_directly():
    with pytest.raises(InputError, match="big.txt is larger than the 10-byte limit"):
        load_document(b"x" * 11, "big.txt", 10)


# --- PDF ---

def test_pdf_text_and_page_map():
    document = load_document(make_pdf([PAGE_1, PAGE_2]), "report.pdf")
    first, second = "\n".join(PAGE_1), "\n".join(PAGE_2)
    assert document.kind == "pdf" and document.name == "report.pdf"
    assert document.text == first + "\n\n" + second
    assert document.pages == (0, len(first) + 2) and document.page_count == 2
    in_page_2 = document.text.index("pumping station")
    assert document.page_of(0) == 1 and document.page_of(len(first)) == 1 and document.page_of(in_page_2) == 2
    assert document.page_of(len(document.text) + 10) == 2
    assert document.pages_of(0, 5) == [1] and document.pages_of(in_page_2, in_page_2 + 3) == [2]
    assert document.pages_of(len(first) - 3, in_page_2) == [1, 2]


def test_pages_of_equals_a_naive_loop_for_every_span():
    pages = [["one"], ["a longer second page"], [""], ["four"], ["the fifth and last"]]
    document = load_document(make_pdf(pages), "p.pdf")
    assert document.page_count == 5
    n = len(document.text)
    for start in range(n):
        for end in range(start, n + 2):
            assert document.pages_of(start, end) == naive_pages(document.pages, n, start, end), (start, end)


def test_pdf_named_txt_is_read_as_pdf(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(make_pdf([PAGE_1, PAGE_2]))
    document = open_document(str(path))
    assert document.kind == "pdf" and document.page_count == 2
    assert read_document(str(path)) == document.text


def test_pdf_from_stdin(monkeypatch):
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(make_pdf([PAGE_1]))))
    document = open_document("-")
    assert document.name == "stdin" and document.text == "\n".join(PAGE_1)


def test_encrypted_pdf_is_refused_with_the_fix():
    data = rewrite_pdf(make_pdf([PAGE_1]), user_password="secret")
    message = error_of(data, "locked.pdf")
    assert "locked.pdf is encrypted" in message and "qpdf --decrypt" in message


def test_pdf_with_an_empty_user_password_opens():
    data = rewrite_pdf(make_pdf([PAGE_1, PAGE_2]), user_password="", owner_password="owner")
    document = load_document(data, "restricted.pdf")
    assert document.text == "\n".join(PAGE_1) + "\n\n" + "\n".join(PAGE_2)


def test_aes_pdf_without_cryptography_names_the_package(monkeypatch):
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    def needs_cryptography(self, password):
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    data = rewrite_pdf(make_pdf([PAGE_1]), user_password="secret")
    monkeypatch.setattr(PdfReader, "decrypt", needs_cryptography)
    assert "encrypted with AES" in error_of(data, "aes.pdf") and "pip install cryptography" in error_of(data, "aes.pdf")


def test_image_only_pdf_asks_for_ocr():
    message = error_of(rewrite_pdf(), "scan.pdf")
    assert "scan.pdf has no text layer" in message and "(1 page without text" in message and "OCR" in message


@pytest.mark.parametrize("damage", [
    lambda d: d[: len(d) // 2], lambda d: d[:40], lambda d: b"%PDF-1.4\n" + b"garbage " * 20,
])
def test_corrupt_pdf_is_one_line(damage):
    message = error_of(damage(make_pdf([PAGE_1, PAGE_2])), "broken.pdf")
    assert "broken.pdf cannot be read as a PDF (" in message and "export it again" in message


def test_pypdf_repair_warnings_stay_off_stderr(capsys):
    logger = logging.getLogger("pypdf")
    level = logger.level
    document = load_document(make_pdf([PAGE_1], xref_shift=7), "shifted.pdf")
    assert document.text == "\n".join(PAGE_1)
    assert capsys.readouterr().err == ""
    assert logger.level == level


# --- DOCX and other ZIP archives ---

def test_docx_paragraphs_and_table_cells_in_document_order():
    document = load_document(make_docx(), "minutes.docx")
    assert document.kind == "docx" and document.pages is None
    assert document.text == ("Minutes\n\nThe board met on Tuesday.\n\n"
                             "Item | Owner\nBudget | Ana\nStaffing: two engineers\n\nThe vote was unanimous.")


def test_docx_with_a_damaged_part_is_one_line():
    source = zipfile.ZipFile(io.BytesIO(make_docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for item in source.infolist():
            body = b"<w:document><unclosed" if item.filename == "word/document.xml" else source.read(item)
            archive.writestr(item, body)
    message = error_of(out.getvalue(), "damaged.docx")
    assert "damaged.docx cannot be read as a DOCX (" in message and "save it again" in message


def test_truncated_docx_is_still_called_a_docx():
    message = error_of(make_docx()[:3000], "cut.docx")
    assert "cannot be read as a DOCX" in message


def test_zip_that_is_not_a_docx():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "The board met.")
    message = error_of(out.getvalue(), "bundle.docx")
    assert message == ("bundle.docx is a ZIP archive, not a DOCX (it has no word/document.xml): "
                       "unzip it and pass the document inside")


def test_legacy_office_file():
    assert "legacy Office file" in error_of(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old.doc")


# --- HTML ---

def test_html_main_text_without_navigation_or_footer():
    document = load_document(PAGE.encode(), "page.html")
    assert document.kind == "html" and document.pages is None
    assert ARTICLE[0] in document.text and ARTICLE[1] in document.text
    for boilerplate in ("About us", "Copyright", "tracking"):
        assert boilerplate not in document.text


def test_html_in_a_declared_charset():
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Caf\u00e9 minutes: the board met.</p></body></html>'
    assert "Caf\u00e9 minutes" in load_document(page.encode("latin-1"), "latin.html").text


def test_html_falls_back_to_visible_text(monkeypatch):
    import trafilatura

    monkeypatch.setattr(trafilatura, "extract", lambda *args, **kwargs: None)
    document = load_document(PAGE.encode(), "page.html")
    assert ARTICLE[0] in document.text and "Home" in document.text and "tracking" not in document.text
    assert "Budget news" not in document.text  # <head> is not visible


def test_html_with_no_text():
    message = error_of(b"<html><body><script>var x = 1;</script></body></html>", "empty.html")
    assert "empty.html is an HTML page with no readable text" in message


def test_html_not_utf8_without_a_charset_keeps_the_text_error():
    assert "is not UTF-8" in error_of("<html><body>Caf\u00e9</body></html>".encode("latin-1"), "x.html")


# --- the command line ---

def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_summarize_a_pdf_lists_the_pages_of_each_passage(capsys, tmp_path, tiny_checkpoint):
    words = long_text(600).split(" ")
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    pages = [lines[i : i + 10] for i in range(0, len(lines), 10)]
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf(pages))
    code, out, err = run_cli(capsys, "summarize", str(path), "-q", QUERY, "--model", str(tiny_checkpoint),
                             "--strategy", "retrieve", "--scorer", "bm25", "--context-window", "200",
                             "--max-new-tokens", "4", "--json")
    assert code == 0, err
    result = json.loads(out)
    document = open_document(str(path))
    assert result["document"] == {"kind": "pdf", "pages": len(pages)}
    assert result["passages"]
    for passage in result["passages"]:
        assert passage["page"] == naive_pages(document.pages, len(document.text), passage["start"], passage["end"])
    assert max(page for passage in result["passages"] for page in passage["page"]) > 1


def test_summarize_text_json_names_the_kind(capsys, tmp_path, tiny_checkpoint):
    path = tmp_path / "notes.md"
    path.write_text(long_text(60))
    code, out, err = run_cli(capsys, "summarize", str(path), "-q", QUERY, "--model", str(tiny_checkpoint),
                             "--max-new-tokens", "4", "--json")
    assert code == 0, err
    assert json.loads(out)["document"] == {"kind": "text", "pages": None}


@pytest.mark.parametrize("data, needle", [
    (make_pdf([PAGE_1])[:100], "cannot be read as a PDF"),
    (rewrite_pdf(), "has no text layer"),
])
def test_summarize_a_bad_pdf_is_one_line(capsys, tmp_path, data, needle):
    path = tmp_path / "bad.pdf"
    path.write_bytes(data)
    code, out, err = run_cli(capsys, "summarize", str(path), "-q", QUERY)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(path) in lines[0] and needle in lines[0]
