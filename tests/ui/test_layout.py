"""Geometry, not presence, at a laptop's 1440×900 and a phone's 390×844: results on the first screen, every matrix
cell in view or behind a visible scroll cue, no overlapping titles, no sideways page overflow, every tab one tap
away, and an audio cell's click showing its explanation's progress where the user looks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pytest
from browser import (
    JS_IDLE,
    JS_MATRIX_DRAWN,
    RUN_SECONDS,
    chromium,
    keep_screenshot,
    needs_chromium,
    served,
    sync_api,
)

import app
from alignment.models.encoders import Encoders
from alignment.models.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = needs_chromium
SIZES = {"laptop": (1440, 900), "phone": (390, 844)}
TABS = ("Compare", "Search", "Errors", "Explain", "Fusion")

# Every visible title-like element: headings, component labels, plot titles and subplot titles, tab buttons.
JS_TITLES = """() => {
  const picked = Array.from(document.querySelectorAll(
    'h1, h2, h3, h4, [data-testid="block-label"], .gtitle, .annotation-text, [role="tab"]'));
  return picked.filter((e) => e.offsetParent !== null || e.closest('svg')).map((e) => {
    const r = e.getBoundingClientRect();
    return {text: (e.textContent || '').trim().slice(0, 40), x: r.x, y: r.y + window.scrollY, w: r.width, h: r.height};
  }).filter((b) => b.w > 1 && b.h > 1);
}"""

# For each matrix cell: inside its matrix's visible box, or (when the box scrolls sideways) the cue says so.
JS_CELLS = """(selector) => {
  const matrix = document.querySelector(selector + ' .matrix');
  const box = matrix.querySelector('.scroll').getBoundingClientRect();
  const scrolls = matrix.querySelector('.scroll').scrollWidth > matrix.querySelector('.scroll').clientWidth + 1;
  const cue = matrix.querySelector('.wide');
  const cueShown = !!cue && getComputedStyle(cue).display !== 'none' && cue.getBoundingClientRect().height > 0;
  const cells = Array.from(matrix.querySelectorAll('button[data-row]'));
  const outside = cells.filter((c) => {
    const r = c.getBoundingClientRect();
    return r.left < box.left - 1 || r.right > box.right + 1 || r.width < 4 || r.height < 4;
  }).length;
  return {cells: cells.length, outside, scrolls, cueShown};
}"""


@pytest.fixture(scope="module")
def url(tiny_settings: Settings, encoders: Encoders) -> Iterator[str]:
    with served(app.build_demo(tiny_settings, encoders), app.launch_options()) as address:
        yield address


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def opened(browser: Browser, url: str, size: str) -> Page:
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_function(JS_MATRIX_DRAWN, timeout=RUN_SECONDS * 1000)
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    return page


def overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    """Pairs of title boxes whose rectangles intersect by more than a sliver."""
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
            dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
            if dx > 2 and dy > 2 and a["text"] != b["text"]:
                out.append((a["text"], b["text"]))
    return out


@pytest.mark.parametrize("size", SIZES)
def test_the_first_screen_shows_results_and_every_matrix_cell_is_reachable(
    browser: Browser, url: str, size: str, tmp_path
) -> None:
    page = opened(browser, url, size)
    height = SIZES[size][1]
    assert page.evaluate("() => window.scrollY") == 0
    first_screen = (
        ("#compare-summary", "#matrix-text-image button[data-row]") if size == "laptop" else ("#compare-summary",)
    )
    for selector in first_screen:  # a phone's first screen has the summary; its matrices follow
        top = page.locator(selector).first.bounding_box()
        assert top is not None and top["y"] < height - 40, f"{selector} starts below the first screen at {size}"
    for selector in ("#matrix-text-image", "#matrix-text-audio"):
        cells = page.evaluate(JS_CELLS, selector)
        assert cells["cells"] > 0
        assert cells["outside"] == 0 or (cells["scrolls"] and cells["cueShown"]), f"{selector} at {size}: {cells}"
    keep_screenshot(page, tmp_path, f"compare-{size}.png")
    page.close()


@pytest.mark.parametrize("size", SIZES)
def test_no_titles_overlap_and_a_phone_never_scrolls_sideways(browser: Browser, url: str, size: str) -> None:
    page = opened(browser, url, size)
    for tab in TABS:
        page.get_by_role("tab", name=tab, exact=True).click()
        page.wait_for_timeout(800)
        assert overlapping(page.evaluate(JS_TITLES)) == [], f"titles overlap on {tab} at {size}"
        if size == "phone":
            widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert widths[0] <= widths[1], f"{tab} is wider than a phone: {widths}"
    page.close()


def test_every_tab_is_one_tap_away_on_a_phone(browser: Browser, url: str) -> None:
    page = opened(browser, url, "phone")
    for tab in TABS:
        sync_api.expect(page.get_by_role("tab", name=tab, exact=True)).to_be_visible()
    assert (
        page.get_by_role("button", name="More tabs").count() == 0
        or not page.get_by_role("button", name="More tabs").is_visible()
    )
    page.close()


@pytest.mark.parametrize("size", SIZES)
def test_an_audio_cell_shows_its_explanation_in_progress_where_the_user_looks(
    browser: Browser, url: str, size: str, tmp_path
) -> None:
    page = opened(browser, url, size)
    heads = page.locator("#matrix-text-audio th.col")
    col = next(j for j in range(heads.count()) if heads.nth(j).get_attribute("title") == "siren_sweep.flac")
    page.locator(f'#matrix-text-audio button[data-row="0"][data-col="{col}"]').click()
    sync_api.expect(page.get_by_role("tab", name="Text × audio")).to_have_attribute("aria-selected", "true")
    banner = page.get_by_text("× siren_sweep.wav (sound)", exact=False).first
    sync_api.expect(banner).to_be_visible(timeout=20_000)  # named at once, before the models' queue is reached
    sync_api.expect(banner).to_be_in_viewport(timeout=5_000)  # where the user looks: the page scrolled to it
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    sync_api.expect(page.locator("#explain-audio-map svg.amap")).to_be_visible()
    keep_screenshot(page, tmp_path, f"explain-audio-{size}.png")
    page.close()


def test_a_64_by_64_matrix_shows_every_column_on_a_laptop_and_scrolls_with_a_cue_on_a_phone(browser: Browser) -> None:
    import gradio as gr

    from ui.widgets import matrix as matrix_view

    side = 64
    rows, cols = [f"caption number {i} of a big upload" for i in range(side)], [f"image_{j}.jpg" for j in range(side)]
    html = matrix_view.matrix_html(np.random.default_rng(0).random((side, side)), rows, cols, title="T", value_name="c")
    with gr.Blocks() as demo, gr.Row(elem_classes="stack-narrow"):
        matrix_view.matrix_component("A", elem_id="big", min_width=340, value=html)
        gr.HTML(matrix_view.message_html("the other matrix"), min_width=340)
    with served(demo, app.launch_options()) as address:
        for size in SIZES:
            width, height = SIZES[size]
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(address)
            page.wait_for_selector("#big button[data-row]", timeout=30_000)
            cells = page.evaluate(JS_CELLS, "#big")
            assert cells["cells"] == side * side
            if size == "laptop":
                assert cells["outside"] == 0 and not cells["scrolls"], f"not every column is in view: {cells}"
            else:
                assert cells["scrolls"] and cells["cueShown"], f"a phone needs the scroll and its cue: {cells}"
            page.close()
