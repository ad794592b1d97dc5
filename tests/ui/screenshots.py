"""Makes the web page's screenshots in docs/ui/ (run it again after changing the page):

    .venv/bin/python tests/ui/screenshots.py

The same real Chromium as the tests, on the built-in fixtures, offline.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from support.browser import all_loaded, chromium, unmatched_picture  # noqa: E402
from support.server import ROOT, start  # noqa: E402

OUT = ROOT / "docs" / "ui"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    picture = Path(tempfile.mkdtemp()) / "blue-disc.png"
    picture.write_bytes(unmatched_picture())
    with start() as running, chromium() as browser:
        page = browser.new_page()
        page.goto(running.http + "/_emulator/ui/")
        page.wait_for_selector("#fixture-pictures button.pick")
        page.click("button.pick[data-file='red-square.png']")
        for api in ("yandex.v2.rest", "yandex.v2.grpc", "doofinder.v6"):
            all_loaded(page, f".panel[data-api='{api}'] .grid img")
        page.screenshot(path=OUT / "try-it.png", full_page=True)
        page.set_input_files("#file", str(picture))
        page.wait_for_selector(".panel[data-api='doofinder.v6'] .status.ok")
        page.click("nav a[data-tab=journal]")
        page.wait_for_function("document.querySelectorAll('#journal-table tbody tr').length === 6")
        page.locator("#journal-table tr.miss", has_text="yandex.v2.rest").click()
        all_loaded(page, "#entry .candidate img")
        all_loaded(page, "#journal-table img.thumb")
        page.screenshot(path=OUT / "journal.png")
        page.click("#entry .make-stub")
        page.click("#stub-form button")
        page.wait_for_selector("#stub-list li[data-id]")
        page.click("#fault-form button")
        page.wait_for_selector("#fault-list li[data-id]")
        page.screenshot(path=OUT / "stubs-and-faults.png")
        page.click("nav a[data-tab=fixtures]")
        all_loaded(page, "#image-rules img")
        page.screenshot(path=OUT / "fixtures.png")
    for shot in sorted(OUT.glob("*.png")):
        print(shot.relative_to(ROOT), shot.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
