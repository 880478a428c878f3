"""The web page in a real browser: Debian's headless Chromium driven by Playwright (no browser is
downloaded; scripts/setup.sh installs the `chromium` package). Upload a PDF, ask, and see the
streamed answer, the passages highlighted with page labels, and the error shown for a bad file.
A screenshot is kept in test-artifacts/page.png."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import long_text, serving
from qfocus.service import ServeConfig, create_app

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is missing: run scripts/setup.sh (it installs the chromium package)"
    return found


@pytest.fixture
def browser_page(tiny_checkpoint):
    from playwright.sync_api import sync_playwright

    from qfocus.models import load_model

    app = create_app(ServeConfig(model=str(tiny_checkpoint)), load=lambda folder: load_model(str(tiny_checkpoint), adapter=folder))
    with serving(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 800})
        page.goto(url)
        yield page
        browser.close()


def test_upload_ask_and_see_the_answer_stream_with_highlights(browser_page, tmp_path):
    from test_documents import make_pdf

    page = browser_page
    words = long_text(900).split()
    pdf = tmp_path / "minutes.pdf"
    pdf.write_bytes(make_pdf([[" ".join(words[i:i + 12]) for i in range(start, start + 300, 12)]
                              for start in range(0, 900, 300)]))
    page.get_by_label("Strategy").select_option("truncate")  # the default, named; its kept head and tail are marked
    page.get_by_label("Or drop a file here").set_input_files(str(pdf))
    assert "minutes.pdf" in page.locator("#file-name").inner_text()
    page.get_by_label("Query").fill("What did the speakers decide?")
    page.get_by_label("Query").press("Enter")  # the keyboard submits the form
    page.wait_for_function("document.getElementById('status-text').textContent.startsWith('done')", timeout=120_000)
    answer = page.locator("#answer").inner_text()
    assert answer.strip()
    marks = page.locator("#document-view mark")
    assert marks.count() == 2  # head and tail
    assert page.locator("#document-view .page-label").all_inner_texts() == ["page 1", "page 2", "page 3"]
    assert [t.split(",")[0] for t in page.locator("#sources li").all_inner_texts()] == ["head", "tail"]
    assert "page 1" in page.locator("#sources li").first.inner_text()
    page.locator("#sources button").last.click()
    assert page.locator("mark.current").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=False)
    assert (ARTIFACTS / "page.png").stat().st_size > 10_000


def test_streamed_tokens_arrive_before_the_end(browser_page):
    """The answer grows while it is written: some token text is on the page before the summary event."""
    page = browser_page
    page.evaluate("""() => {
        window.seen = [];
        new MutationObserver(() => window.seen.push([document.getElementById('answer').textContent.length,
            document.getElementById('status-text').textContent]))
          .observe(document.getElementById('answer'), {childList: true, characterData: true, subtree: true});
    }""")
    page.get_by_label("Document text").fill(long_text(300))
    page.get_by_label("Query").fill("Who spoke?")
    page.get_by_role("button", name="Ask").click()
    page.wait_for_function("document.getElementById('status-text').textContent.startsWith('done')", timeout=120_000)
    seen = page.evaluate("window.seen")
    assert any(length > 0 and status.startswith("writing") for length, status in seen)


def test_a_bad_file_shows_the_servers_error(browser_page, tmp_path):
    page = browser_page
    bad = tmp_path / "scan.pdf"
    bad.write_bytes(b"%PDF-1.4\n not really")
    page.get_by_label("Or drop a file here").set_input_files(str(bad))
    page.get_by_label("Query").fill("What is in it?")
    page.get_by_role("button", name="Ask").click()
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible", timeout=60_000)
    assert "cannot be read as a PDF" in alert.inner_text() and "400" in alert.inner_text()
