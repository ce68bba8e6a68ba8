"""The main journey in a real headless Chromium: pick a bundled example, Compare, see the plots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import app
from alignment.models.encoders import Encoders
from alignment.models.settings import Settings
from alignment.views.projection import warm_up_umap
from ui.assets import bundled_examples

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

from browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    JS_IDLE,
    JS_MATRIX_DRAWN,
    JS_SHOWS,
    MATRICES,
    RUN_SECONDS,
    assert_on_screen,
    assert_painted,
    keep_screenshot,
    needs_chromium,
    open_app,
    served,
    sync_api,
)

pytestmark = needs_chromium
VIEWPORT = {"width": 1400, "height": 1000}
PROJECTION = "#compare-projection"
JS_PROJECTION_DRAWN = "() => !!document.querySelector('#compare-projection .xp')?.dataset.drawn"
JS_CARD = """() => {
  const c = document.querySelector('#compare-projection .xp-card');
  return { id: c.querySelector('.xp-id')?.innerText || '', image: c.querySelector('img')?.src || '',
           audio: c.querySelector('audio')?.src || '' };
}"""
JS_CARD_AT = "() => document.querySelector('#compare-projection .xp').dataset.cardAt || ''"
JS_POINTS = """sel => {
  const gd = document.querySelector(sel + ' .xp-plot'), fl = gd._fullLayout, box = gd.getBoundingClientRect();
  const out = [];
  for (const t of gd.data) {
    if (t.mode !== 'markers') continue;
    for (let j = 0; j < t.x.length; j++)
      out.push([box.left + fl._size.l + fl.xaxis.l2p(t.x[j]), box.top + fl._size.t + fl.yaxis.l2p(t.y[j])]);
  }
  return out;
}"""
EXAMPLE = next(e for e in bundled_examples() if e["name"].startswith("Quick look"))
FIRST = bundled_examples()[0]  # what the page compares when it opens


@pytest.fixture(scope="module")
def launched(tiny_settings: Settings, encoders: Encoders) -> Iterator[tuple[str, bool]]:
    """The demo on a free local port, and whether it runs an event when a page loads."""
    warm_up_umap()
    demo = app.build_demo(tiny_settings, encoders)
    runs_on_load = any(trigger == "load" for dep in demo.config["dependencies"] for _, trigger in dep["targets"])
    with served(demo, app.launch_options()) as address:
        yield address, runs_on_load


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
    page_errors = open_app(page, url)
    compare_button = page.get_by_role("button", name="Compare", exact=True)
    if runs_on_load:
        # The page compares its default inputs on load. Wait for that run to end: a click while an
        # event is pending is dropped (gradio's trigger_mode="once"), see the report.
        page.wait_for_function(JS_MATRIX_DRAWN, timeout=RUN_SECONDS * 1000)
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

    for selector, files in zip(MATRICES, (EXAMPLE["images"], EXAMPLE["audio"]), strict=True):
        matrix = page.locator(f"{selector} .matrix")
        heads = matrix.locator("th.col")
        assert [heads.nth(i).get_attribute("title") for i in range(heads.count())] == [Path(p).name for p in files]
        assert matrix.locator("th.row").count() == len(EXAMPLE["texts"])
        assert matrix.locator("button[data-row]").count() == len(EXAMPLE["texts"]) * len(files)
        assert_on_screen(page, matrix.locator("table"), inside=".matrix")
        assert_painted(matrix)
    # The projection component: the CLIP space (texts + images) drawn with WebGL, no permanent labels.
    page.wait_for_function(JS_PROJECTION_DRAWN, timeout=RUN_SECONDS * 1000)
    n_clip = len(EXAMPLE["texts"]) + len(EXAMPLE["images"])
    sync_api.expect(page.locator(f"{PROJECTION} .xp-title")).to_contain_text(f"{n_clip} points")
    plot = page.locator(f"{PROJECTION} .xp-plot")
    assert_on_screen(page, plot, inside=f"{PROJECTION} .xp-plot")
    assert len(plot_points(page)) == n_clip
    assert page.locator(f"{PROJECTION} .xp-plot .textpoint, {PROJECTION} .xp-plot text.textpoint").count() == 0
    assert_painted(plot)
    assert page_errors == [], f"uncaught errors in the page: {page_errors}"


def plot_points(page: Page) -> list[list[float]]:
    """Page pixels [x, y] of every point the Compare tab's projection draws (plotly's own axis maps)."""
    return page.evaluate(JS_POINTS, PROJECTION)


def test_projection_hover_shows_the_item_and_a_click_explains_it(
    page: Page, launched: tuple[str, bool], tmp_path: Path
) -> None:
    url, runs_on_load = launched
    page_errors = open_app(page, url)
    if not runs_on_load:
        page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_function(JS_PROJECTION_DRAWN, timeout=RUN_SECONDS * 1000)
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    page.locator(PROJECTION).scroll_into_view_if_needed()

    # The CLAP space: texts and sounds, hover one sound and hear it.
    page.locator("#compare-space").get_by_text("CLAP: texts and sounds").click()
    n_clap = len(FIRST["texts"]) + len(FIRST["audio"])
    sync_api.expect(page.locator(f"{PROJECTION} .xp-title")).to_contain_text(
        f"CLAP space: texts and sounds · {n_clap} points"
    )
    page.wait_for_function(JS_PROJECTION_DRAWN, timeout=30_000)
    sounds = {Path(p).name for p in FIRST["audio"]}
    _, shown = hover_until(page, lambda c: c["id"] in sounds)
    assert shown["audio"].startswith("data:audio/ogg;base64,")
    keep_screenshot(page, tmp_path, "compare-projection-hover.png")

    # Back to CLIP: an image's card has its thumbnail; a click explains it with its closest caption.
    page.locator("#compare-space").get_by_text("CLIP: texts and images").click()
    n_clip = len(FIRST["texts"]) + len(FIRST["images"])
    sync_api.expect(page.locator(f"{PROJECTION} .xp-title")).to_contain_text(f"{n_clip} points")
    images = {Path(p).name for p in FIRST["images"]}
    (x, y), shown = hover_until(page, lambda c: c["id"] in images)
    assert shown["image"].startswith("data:image/jpeg;base64,")
    page.mouse.click(x, y)
    explain_tab = page.get_by_role("tab", name="Explain")
    sync_api.expect(explain_tab).to_have_attribute("aria-selected", "true", timeout=30_000)
    sync_api.expect(page.get_by_text("patch grid")).to_be_visible(timeout=RUN_SECONDS * 1000)
    assert page_errors == [], f"uncaught errors in the page: {page_errors}"


def hover_until(page: Page, wanted) -> tuple[tuple[float, float], dict]:  # noqa: ANN001 (a predicate on the card)
    """Hover the drawn points, most isolated first, until the card shows an item `wanted` accepts; the point's pixel
    and the card as read in one go (id, image and audio sources): a later hover event may redraw it."""
    import numpy as np

    pixels = np.asarray(plot_points(page))
    gaps = np.sort(np.linalg.norm(pixels[:, None] - pixels[None], axis=2), axis=1)[:, 1]
    for i in np.argsort(-gaps).tolist():
        x, y = float(pixels[i][0]), float(pixels[i][1])
        before = page.evaluate(JS_CARD_AT)
        page.mouse.move(x - 25, y - 25)
        page.mouse.move(x, y, steps=4)
        try:  # the card was drawn again for this hover (a stamp in the island's dataset)
            page.wait_for_function(f"b => ({JS_CARD_AT})() !== b", arg=before, timeout=5_000)
        except sync_api.TimeoutError:
            continue
        card = page.evaluate(JS_CARD)
        if wanted(card):
            return (x, y), card
    raise AssertionError("no hovered point showed the item looked for")


def test_one_click_on_a_matrix_cell_explains_that_pair(page: Page, launched: tuple[str, bool], tmp_path: Path) -> None:
    url, runs_on_load = launched
    page_errors = open_app(page, url)
    compare_button = page.get_by_role("button", name="Compare", exact=True)
    if not runs_on_load:
        compare_button.click()
    page.wait_for_function(JS_MATRIX_DRAWN, timeout=RUN_SECONDS * 1000)
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    texts = page.get_by_label("Texts (one per line)").input_value().splitlines()

    # Text × image: the coffee caption against the coffee photo.
    row = next(i for i, t in enumerate(texts) if "coffee" in t)
    heads = page.locator("#matrix-text-image th.col")
    col = next(j for j in range(heads.count()) if heads.nth(j).get_attribute("title") == "coffee.jpg")
    page.locator(f'#matrix-text-image button[data-row="{row}"][data-col="{col}"]').click()
    explain_tab = page.get_by_role("tab", name="Explain")
    sync_api.expect(explain_tab).to_have_attribute("aria-selected", "true", timeout=30_000)
    sync_api.expect(page.get_by_text("patch grid")).to_be_visible(timeout=RUN_SECONDS * 1000)  # the explanation
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    js_has_text = "t => Array.from(document.querySelectorAll('textarea')).some(e => e.value === t && e.offsetParent)"
    assert page.evaluate(js_has_text, texts[row]), "the clicked row's text is not in the Explain tab"
    overlay = output_image(page, "Relevance over the image")
    sync_api.expect(overlay).to_be_visible()
    assert_painted(overlay)
    keep_screenshot(page, tmp_path, "explain_image.png")
    page.get_by_role("tab", name="Attention").click()  # the attention viewer ran on the same image
    sync_api.expect(page.get_by_text("CLS token's attention over the")).to_be_visible(timeout=RUN_SECONDS * 1000)
    attention = page.locator(".js-plotly-plot:visible:has(.heatmaplayer image)").last
    assert_on_screen(page, attention.locator(".heatmaplayer image").first)
    assert_painted(attention)
    sync_api.expect(output_image(page, "CLS → patches")).to_be_visible()

    # Text × audio: back to Compare, one click on the siren cell explains the sound.
    page.get_by_role("tab", name="Compare").click()
    row = next(i for i, t in enumerate(texts) if "siren" in t)
    heads = page.locator("#matrix-text-audio th.col")
    col = next(j for j in range(heads.count()) if heads.nth(j).get_attribute("title") == "siren_sweep.flac")
    page.locator(f'#matrix-text-audio button[data-row="{row}"][data-col="{col}"]').click()
    sync_api.expect(explain_tab).to_have_attribute("aria-selected", "true", timeout=30_000)
    sync_api.expect(page.get_by_role("tab", name="Text × audio")).to_have_attribute("aria-selected", "true")
    sync_api.expect(page.get_by_text(" s · deletion area")).to_be_visible(timeout=RUN_SECONDS * 1000)
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    spectrogram = page.locator("#explain-audio-map svg.amap")
    sync_api.expect(spectrogram).to_be_visible()
    assert_painted(spectrogram)
    keep_screenshot(page, tmp_path, "explain_audio.png")
    page.get_by_role("tab", name="Attention").click()
    sync_api.expect(page.get_by_text("clap-text", exact=False).first).to_be_visible(timeout=RUN_SECONDS * 1000)
    assert page_errors == [], f"uncaught errors in the page: {page_errors}"


def output_image(page: Page, label: str) -> Locator:
    """The picture shown by the gr.Image whose label is `label`."""
    block = page.get_by_text(label, exact=True).locator("xpath=ancestor::div[contains(@class, 'block')][1]")
    return block.locator("img").first


def test_opening_the_fusion_tab_shows_the_demo_result(page: Page, launched: tuple[str, bool]) -> None:
    """No button to find: opening the tab trains the synthetic demo once (later visitors get it at once)."""
    url, runs_on_load = launched
    page_errors = open_app(page, url)
    if runs_on_load:
        page.wait_for_function(JS_MATRIX_DRAWN, timeout=RUN_SECONDS * 1000)
        page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    page.get_by_role("tab", name="Fusion").click()
    sync_api.expect(page.get_by_text("Best held-out R@1")).to_be_visible(timeout=RUN_SECONDS * 1000)
    sync_api.expect(page.get_by_text("How to read the table")).to_be_visible()
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    curves = page.locator(".js-plotly-plot:visible:has(.scatterlayer)").first
    assert_on_screen(page, curves.locator(".main-svg").first)
    assert page_errors == [], f"uncaught errors in the page: {page_errors}"
