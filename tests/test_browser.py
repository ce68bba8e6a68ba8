"""The main journey in a real headless Chromium: pick a bundled example, Compare, see the plots."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import app
from alignment.config import Settings
from alignment.encoders import Encoders
from alignment.projection import warm_up_umap

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

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
VIEWPORT = {"width": 1400, "height": 1000}
EXAMPLE = next(e for e in app.bundled_examples() if e["name"].startswith("Quick look"))
RUN_SECONDS = 120  # one compare on a loaded 2-core machine, numba's first UMAP compile included

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium: /usr/bin/chromium is absent, and no chromium or chromium-browser on PATH"
)

# Plotly draws axis labels as SVG text; a run is over when no status tracker (progress, pending,
# generating) is showing.
JS_IDLE = "() => document.querySelectorAll('[data-testid=\"status-tracker\"]:not(.hide)').length === 0"
JS_SHOWS = """names => {
  const ticks = new Set(Array.from(document.querySelectorAll('.js-plotly-plot .xtick text')).map(e => e.textContent));
  const idle = document.querySelectorAll('[data-testid="status-tracker"]:not(.hide)').length === 0;
  return idle && ticks.size === names.length && names.every(n => ticks.has(n));
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def launched(tiny_settings: Settings, encoders: Encoders) -> Iterator[tuple[str, bool]]:
    """The demo on a free local port, and whether it runs an event when a page loads."""
    warm_up_umap()
    demo = app.build_demo(tiny_settings, encoders)
    runs_on_load = any(trigger == "load" for dep in demo.config["dependencies"] for _, trigger in dep["targets"])
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    assert demo.local_url, "the demo did not start"
    try:
        yield demo.local_url, runs_on_load
    finally:
        demo.close()


@pytest.fixture
def page(launched: tuple[str, bool]) -> Iterator[Page]:
    assert CHROMIUM is not None
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport=VIEWPORT)
        finally:
            browser.close()


def test_example_compare_shows_visible_plots(page: Page, launched: tuple[str, bool], tmp_path: Path) -> None:
    url, runs_on_load = launched
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(url)
    compare_button = page.get_by_role("button", name="Compare", exact=True)
    sync_api.expect(compare_button).to_be_visible(timeout=30_000)
    if runs_on_load:
        # The page compares its default inputs on load. Wait for that run to end: a click while an
        # event is pending is dropped (gradio's trigger_mode="once"), see the report.
        page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot .xtick text').length > 0", timeout=RUN_SECONDS * 1000
        )
        page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)

    page.get_by_text(EXAMPLE["name"], exact=True).click()
    sync_api.expect(page.get_by_label("Texts (one per line)")).to_have_value("\n".join(EXAMPLE["texts"]))
    compare_button.click()
    names = [Path(p).name for p in EXAMPLE["images"] + EXAMPLE["audio"]]
    page.wait_for_function(JS_SHOWS, arg=names, timeout=RUN_SECONDS * 1000)

    shot = tmp_path / "compare.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("ALIGN_SCREENSHOT_DIR"):
        keep = Path(os.environ["ALIGN_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep / "compare.png")
    assert shot.stat().st_size > 10_000

    plots = page.locator(".js-plotly-plot")
    assert plots.count() == 3, "expected the two heatmaps and the embedding scatter"
    heatmaps = page.locator(".js-plotly-plot:has(.heatmaplayer image)")
    assert heatmaps.count() == 2
    for k, files in enumerate((EXAMPLE["images"], EXAMPLE["audio"])):
        heatmap = heatmaps.nth(k)
        assert heatmap.locator(".xtick text").all_text_contents() == [Path(p).name for p in files]
        assert len(heatmap.locator(".ytick text").all_text_contents()) == len(EXAMPLE["texts"])
        assert_on_screen(page, heatmap.locator(".heatmaplayer image").first)
        assert_painted(heatmap)
    assert "cat.jpg" in heatmaps.nth(0).locator(".xtick text").all_text_contents()

    scatter = page.locator(".js-plotly-plot:has(.scatterlayer)").last
    points = scatter.locator(".scatterlayer .point")
    n_points = 2 * len(EXAMPLE["texts"]) + len(EXAMPLE["images"]) + len(EXAMPLE["audio"])
    assert points.count() == n_points
    assert_on_screen(page, scatter.locator(".main-svg").first)
    boxes = [points.nth(i).bounding_box() for i in range(n_points)]
    assert all(b is not None and b["width"] > 0 and b["height"] > 0 for b in boxes), "scatter points are not drawn"
    assert_painted(scatter)
    assert page_errors == [], f"uncaught errors in the page: {page_errors}"


def test_errors_tab_evaluates_the_example_and_opens_the_worst_error(
    page: Page, launched: tuple[str, bool], tmp_path: Path
) -> None:
    url, runs_on_load = launched
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(url)
    if runs_on_load:  # the Compare tab's page-load run holds the model slot: let it finish first
        page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot .xtick text').length > 0", timeout=RUN_SECONDS * 1000
        )
        page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    page.get_by_role("tab", name="Alignment errors").click()
    page.get_by_role("button", name="Evaluate", exact=True).click()
    sync_api.expect(page.get_by_text("errors match")).to_be_visible(timeout=RUN_SECONDS * 1000)
    page.wait_for_function(
        "() => document.querySelectorAll('.js-plotly-plot .scatterlayer .point').length > 0", timeout=RUN_SECONDS * 1000
    )
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)

    shot = tmp_path / "errors.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("ALIGN_SCREENSHOT_DIR"):
        keep = Path(os.environ["ALIGN_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep / "errors.png")

    sync_api.expect(page.get_by_text("Retrieval metrics per direction")).to_be_visible()
    for direction in ("text->image", "image->text", "text->audio", "audio->text"):
        assert page.get_by_text(direction, exact=True).count() >= 1, f"{direction} is not listed"
    assert page.get_by_text("truth ranked").count() == 1, "the worst error is not opened"
    images = page.locator("[data-testid='image'] img:visible, .image-container img:visible")
    assert images.count() >= 1, "no image preview of the selected error"
    scatter = page.locator(".js-plotly-plot:visible:has(.scatterlayer .point)").first
    assert_on_screen(page, scatter.locator(".main-svg").first)
    assert_painted(scatter)
    assert "query" in " ".join(scatter.locator(".legendtext").all_text_contents())
    block = page.locator(".js-plotly-plot:visible:has(.heatmaplayer image)").first
    assert_on_screen(page, block.locator(".heatmaplayer image").first)
    assert page_errors == [], f"uncaught errors in the page: {page_errors}"


def assert_on_screen(page: Page, element: Locator) -> None:
    """Scrolled into view, the element has a real size, lies inside the viewport, and is not covered."""
    element.scroll_into_view_if_needed()
    sync_api.expect(element).to_be_visible()
    box = element.bounding_box()
    assert box is not None and box["width"] > 50 and box["height"] > 50, f"too small to see: {box}"
    assert 0 <= box["x"] and box["x"] + box["width"] <= VIEWPORT["width"] + 1, f"outside the viewport: {box}"
    assert 0 <= box["y"] and box["y"] + box["height"] <= VIEWPORT["height"] + 1, f"outside the viewport: {box}"
    on_top = page.evaluate(
        "([x, y]) => { const e = document.elementFromPoint(x, y); return !!(e && e.closest('.js-plotly-plot')); }",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top, "something covers the plot's centre"


def assert_painted(element: Locator) -> None:
    """The rendered pixels are a picture, not a blank box (many distinct colours)."""
    from io import BytesIO

    from PIL import Image

    pixels = Image.open(BytesIO(element.screenshot())).convert("RGB")
    colours = pixels.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, f"the plot looks blank ({len(colours)} colours)"
