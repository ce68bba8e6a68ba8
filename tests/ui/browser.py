"""What the browser tests share: where Chromium is, how to start it, and the checks on what a page shows."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import gradio as gr
    from playwright.sync_api import Browser, Locator, Page

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
        if p and Path(p).exists()
    ),
    None,
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RUN_SECONDS = 120  # one compare on a loaded 2-core machine, numba's first UMAP compile included

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium: /usr/bin/chromium is absent, and no chromium or chromium-browser on PATH"
)

# The similarity matrices are HTML tables whose column headers carry the item names; a run is over when no
# status tracker (progress, pending, generating) is showing.
MATRICES = ("#matrix-text-image", "#matrix-text-audio")
JS_IDLE = "() => document.querySelectorAll('[data-testid=\"status-tracker\"]:not(.hide)').length === 0"
JS_MATRIX_DRAWN = "() => document.querySelectorAll('#matrix-text-image button[data-row]').length > 0"
JS_SHOWS = """names => {
  const heads = document.querySelectorAll('#matrix-text-image th.col, #matrix-text-audio th.col');
  const shown = new Set(Array.from(heads).map(e => e.title));
  const idle = document.querySelectorAll('[data-testid="status-tracker"]:not(.hide)').length === 0;
  return idle && shown.size === names.length && names.every(n => shown.has(n));
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(demo: gr.Blocks, options: dict | None = None) -> Iterator[str]:
    """`demo` launched without blocking on a free local port (with `options`, e.g. `app.launch_options()`), its
    URL; closed afterwards."""
    demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **(options or {})
    )
    assert demo.local_url, "the demo did not start"
    try:
        yield demo.local_url
    finally:
        demo.close()


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium (the system's, with CHROMIUM_ARGS), closed afterwards."""
    assert CHROMIUM is not None
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def open_app(page: Page, url: str) -> list[str]:
    """Open the app and wait for its Compare button; the list collects the page's uncaught errors from now on."""
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(url)
    sync_api.expect(page.get_by_role("button", name="Compare", exact=True)).to_be_visible(timeout=30_000)
    return page_errors


def keep_screenshot(page: Page, tmp_path: Path, name: str) -> None:
    """A full-page screenshot; copied to $ALIGN_SCREENSHOT_DIR when set, for a person to look at."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("ALIGN_SCREENSHOT_DIR"):
        keep = Path(os.environ["ALIGN_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep / name)


def assert_on_screen(page: Page, element: Locator, *, inside: str = ".js-plotly-plot") -> None:
    """Scrolled into view, the element has a real size, lies inside the viewport, and is not covered (the point at
    its centre belongs to the `inside` container)."""
    element.scroll_into_view_if_needed()
    sync_api.expect(element).to_be_visible()
    box = element.bounding_box()
    assert box is not None and box["width"] > 50 and box["height"] > 50, f"too small to see: {box}"
    viewport = page.viewport_size or {"width": 0, "height": 0}
    assert 0 <= box["x"] and box["x"] + box["width"] <= viewport["width"] + 1, f"outside the viewport: {box}"
    assert 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"] + 1, f"outside the viewport: {box}"
    on_top = page.evaluate(
        "([x, y, inside]) => { const e = document.elementFromPoint(x, y); return !!(e && e.closest(inside)); }",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, inside],
    )
    assert on_top, "something covers the plot's centre"


def assert_painted(element: Locator) -> None:
    """The rendered pixels are a picture, not a blank box (many distinct colours)."""
    from io import BytesIO

    from PIL import Image

    pixels = Image.open(BytesIO(element.screenshot())).convert("RGB")
    colours = pixels.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, f"the plot looks blank ({len(colours)} colours)"
