"""The Search tab in a real headless Chromium: type a text, search the bundled examples, see image and sound results
with their previews (thumbnails that decode, players that load), and follow one result to its explanation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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
SIZES = {"1440": (1440, 900), "390": (390, 844)}
QUERY = "a siren wailing"

# Each result card as the page shows it: its kind, rank, whether its thumbnail decoded, its player's source.
JS_CARDS = """() => Array.from(document.querySelectorAll('#search-results li.hit')).map((li) => {
  const img = li.querySelector('img'), audio = li.querySelector('audio'), r = li.getBoundingClientRect();
  return {target: li.dataset.target, rank: Number(li.dataset.rank), x: r.x, w: r.width,
          decoded: img ? img.complete && img.naturalWidth > 0 : null,
          audio: audio ? audio.getAttribute('src').slice(0, 22) : null,
          explain: !!li.querySelector('button.explain')};
})"""
# Whether the browser can play a card's sound: load it and read its duration.
JS_PLAYABLE = """async (n) => {
  const audio = document.querySelectorAll('#search-results li.hit audio')[n];
  audio.preload = 'auto'; audio.load();
  await new Promise((ok, no) => { audio.onloadedmetadata = ok; audio.onerror = () => no(audio.error); });
  return audio.duration;
}"""


@pytest.fixture(scope="module")
def url(tiny_settings: Settings, encoders: Encoders) -> Iterator[str]:
    with served(app.build_demo(tiny_settings, encoders), app.launch_options()) as address:
        yield address


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def searched(browser: Browser, url: str, size: str) -> tuple[Page, list[str]]:
    """A page at `size` on the Search tab after searching the bundled examples for QUERY; its uncaught errors."""
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_function(JS_MATRIX_DRAWN, timeout=RUN_SECONDS * 1000)
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    page.get_by_role("tab", name="Search", exact=True).click()
    page.locator("#search-text textarea").fill(QUERY)
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_selector("#search-results li.hit", timeout=RUN_SECONDS * 1000)
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    page.wait_for_function("() => Array.from(document.querySelectorAll('#search-results img')).every(i => i.complete)")
    return page, errors


@pytest.mark.parametrize("size", SIZES)
def test_a_text_finds_images_and_sounds_with_previews_and_opens_one_in_explain(
    browser: Browser, url: str, size: str, tmp_path: Path
) -> None:
    page, errors = searched(browser, url, size)
    cards = page.evaluate(JS_CARDS)
    images = [c for c in cards if c["target"] == "image"]
    sounds = [c for c in cards if c["target"] == "audio"]
    assert len(images) == 6 and len(sounds) == 6, cards  # the bundled examples hold 6 photos and 6 sounds
    assert all(c["decoded"] for c in images), "a thumbnail did not decode"
    assert all(c["audio"] == "data:audio/ogg;base64," for c in sounds)
    assert page.evaluate(JS_PLAYABLE, 0) > 0.5, "the first sound's preview does not load"
    assert all(c["explain"] for c in cards), "a text query explains against every image and sound"
    width = page.evaluate("() => document.documentElement.clientWidth")
    assert all(c["x"] >= 0 and c["x"] + c["w"] <= width + 1 for c in cards), "a card sticks out of the page"
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    summary = page.locator("#search-summary")
    sync_api.expect(summary).to_contain_text("single text")
    if size == "390":  # the results sit below the query on a phone: the page brought them into view
        sync_api.expect(summary).to_be_in_viewport()
    page.evaluate("() => window.scrollTo(0, 0)")
    keep_screenshot(page, tmp_path, f"search-{size}.png")

    # One click on a photo's Explain: the Explain tab opens on that pair, named at once, then explained.
    first = page.locator('#search-results li.hit[data-target="image"] button.explain').first
    name = first.get_attribute("data-id")
    first.click()
    sync_api.expect(page.get_by_role("tab", name="Explain", exact=True)).to_have_attribute("aria-selected", "true")
    sync_api.expect(page.get_by_role("tab", name="Text × image")).to_have_attribute("aria-selected", "true")
    banner = page.get_by_text(f"“{QUERY}” × {name} (image)", exact=False).first
    sync_api.expect(banner).to_be_visible(timeout=20_000)
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    sync_api.expect(page.get_by_text("deletion area", exact=False).first).to_be_visible(timeout=RUN_SECONDS * 1000)

    # And a sound's: the Text × audio half, the sound named as the result was.
    page.get_by_role("tab", name="Search", exact=True).click()
    sound = page.locator('#search-results li.hit[data-target="audio"] button.explain').first
    name = sound.get_attribute("data-id")
    sound.click()
    sync_api.expect(page.get_by_role("tab", name="Text × audio")).to_have_attribute("aria-selected", "true")
    sync_api.expect(page.get_by_text(f"“{QUERY}” × {name} (sound)", exact=False).first).to_be_visible(timeout=20_000)
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)
    sync_api.expect(page.locator("#explain-audio-map svg.amap")).to_be_visible()
    assert errors == [], errors
    page.close()
