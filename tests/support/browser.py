"""A real Chromium for the web page's tests: Debian's ``chromium``, driven by Playwright
(no browser of Playwright's own is downloaded), offline, with a fresh profile."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

#: Debian's build, which .ci/run installs (apt-get install chromium chromium-driver).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}


def available() -> str | None:
    """None when the page can be tested here, else why not."""
    if not Path(CHROMIUM).exists():
        return "no chromium (.ci/run installs Debian's chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (the test extra has it)"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A browser context with a fresh profile of its own; pages come from ``new_page()``."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="emulator-ui-profile-")
    try:
        with sync_playwright() as driver:
            context = driver.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=ARGS, viewport=VIEWPORT)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def unmatched_picture() -> bytes:
    """A picture no fixture rule stands for: a blue disc on cream."""
    img = Image.new("RGB", (200, 150), (250, 240, 200))
    ImageDraw.Draw(img).ellipse((40, 20, 160, 130), fill=(40, 120, 200))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def all_loaded(page: Any, selector: str) -> int:
    """How many pictures match ``selector``, once every one of them has loaded (and fails if
    any did not: a broken picture has no natural width)."""
    page.wait_for_function(
        """s => { const all = [...document.querySelectorAll(s)];
                  return all.length > 0 && all.every(i => i.complete); }""", arg=selector)
    sizes = page.eval_on_selector_all(selector, "all => all.map(i => i.naturalWidth)")
    assert all(width > 0 for width in sizes), f"{selector}: not every picture loaded: {sizes}"
    return len(sizes)
