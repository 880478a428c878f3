"""The README's screenshot of `qfocus serve`'s page (docs/page.png): the embedded model with its
shipped adapter answers a query about the bundled example meeting with `retrieve`, in Debian's
headless Chromium.

    .venv/bin/python scripts/page_screenshot.py docs/page.png
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from qfocus.service import ServeConfig, create_app

EXAMPLE = Path(__file__).resolve().parents[1] / "src/qfocus/examples/water_board_meeting.md"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main(out: str) -> None:
    server = uvicorn.Server(uvicorn.Config(create_app(ServeConfig()), host="127.0.0.1", port=8765, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.2)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 1000})
        page.goto("http://127.0.0.1:8765/")
        page.get_by_label("Or drop a file here").set_input_files(str(EXAMPLE))
        page.get_by_label("Query").fill("What did the board decide about the Millbrook pumping station?")
        page.get_by_label("Strategy").select_option("retrieve")
        page.get_by_role("button", name="Ask").click()
        page.wait_for_function("document.getElementById('status-text').textContent.startsWith('done')", timeout=600_000)
        page.evaluate("document.querySelector('#document-view mark:nth-of-type(3)').scrollIntoView({block: 'start'}); window.scrollTo(0, 0)")
        page.screenshot(path=out)
        browser.close()
    server.should_exit = True


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/page.png")
