"""The Errors tab in a real headless Chromium at 1440x900: evaluate the bundled example, triage in the grid with the
keyboard, tags that come back after a reload (same browser, same visitor), Export read back, a click on a point
opening its error, a lasso and a cluster scoping the grid, and "explain →" handing the pair to Explain."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import JS_IDLE, RUN_SECONDS, chromium, keep_screenshot, needs_chromium, served, sync_api

import app
from alignment.models.encoders import Encoders
from alignment.models.settings import Settings

pytestmark = needs_chromium
VIEWPORT = {"width": 1440, "height": 900}
GRID = "#errors-grid"
XP = "#errors-projection"
JS_SCORING = """() => Array.from(document.querySelectorAll('[data-testid="status-tracker"]:not(.hide)'))
  .some((e) => e.innerText.includes('Scoring'))"""
REFINED = "() => document.querySelector('#errors-layout-note')?.textContent.includes('clusters (')"
# The error point farthest from every other point, in page pixels (a hover there can only mean it).
JS_LONELY_ERROR = """() => {
  const gd = document.querySelector('#errors-projection .xp-plot'), fl = gd._fullLayout;
  const box = gd.getBoundingClientRect();
  const px = (t, j) => [box.left + fl._size.l + fl.xaxis.l2p(t.x[j]), box.top + fl._size.t + fl.yaxis.l2p(t.y[j])];
  const all = [], errors = [];
  gd.data.forEach((t) => { for (let j = 0; j < t.x.length; j++) { const p = px(t, j); all.push(p);
    if (t.name.startsWith('error')) errors.push(p); } });
  let best = null, gap = -1;
  for (const p of errors) {
    const d = Math.min(...all.filter((q) => q !== p).map((q) => Math.hypot(q[0] - p[0], q[1] - p[1])));
    if (d > gap) { gap = d; best = p; }
  }
  return best;
}"""


@pytest.fixture(scope="module")
def url(tiny_settings: Settings, encoders: Encoders) -> Iterator[str]:
    with served(app.build_demo(tiny_settings, encoders), app.launch_options()) as address:
        yield address


@pytest.fixture(scope="module")
def page(url: str):
    """One browser page for the module's tests, in file order (each leaves the page as a user would find it)."""
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("dialog", lambda d: problems.append(f"a dialog opened: {d.message}"))
        page.goto(url)
        yield page
        assert problems == [], f"errors in the page: {problems}"


def evaluate_example(page) -> None:
    sync_api.expect(page.get_by_role("tab", name="Errors")).to_be_visible(timeout=60_000)
    page.get_by_role("tab", name="Errors").click()
    page.get_by_role("button", name="Evaluate", exact=True).click()
    page.wait_for_selector(f'{GRID} .eg-row[data-index="0"]', timeout=RUN_SECONDS * 1000)
    page.wait_for_function(f"() => document.querySelector('{XP} .xp')?.dataset.drawn", timeout=RUN_SECONDS * 1000)
    page.wait_for_function(REFINED, timeout=RUN_SECONDS * 1000)
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)


def row(page, i: int):
    return page.locator(f'{GRID} .eg-row[data-index="{i}"]')


def test_evaluate_shows_summary_projection_clusters_grid_and_the_worst_error(page, tmp_path: Path) -> None:
    evaluate_example(page)
    sync_api.expect(page.locator("#errors-summary")).to_contain_text("What this means")
    assert page.locator("#errors-summary a").count() == 0  # no file name or id became a link
    assert page.locator(f"{XP} .xp-plot .legendtext").count() >= 2
    assert page.locator("#errors-clusters tbody tr").count() >= 1
    sync_api.expect(page.locator("#error-head")).to_contain_text("truth ranked")  # the worst error, opened at once
    first = row(page, 0)
    sync_api.expect(first.locator(".eg-cell").first).to_be_visible()
    keep_screenshot(page, tmp_path, "errors-tab-1440.png")


def test_keyboard_tags_come_back_after_a_reload(page) -> None:
    keys = [row(page, i).get_attribute("data-key") for i in (0, 1)]
    row(page, 0).locator(".eg-meta .eg-dir").click()
    page.keyboard.press("1")  # tags the current row and moves on
    page.keyboard.press("2")
    row(page, 0).locator(".eg-tag", has_text="model error").wait_for(timeout=15_000)
    row(page, 1).locator(".eg-tag", has_text="data error").wait_for(timeout=15_000)
    page.wait_for_function(JS_IDLE, timeout=30_000)
    page.wait_for_timeout(1500)  # the two tag calls answered

    page.reload()  # the same browser: the same visitor (its id lives in the browser's storage)
    evaluate_example(page)
    tags = {row(page, i).get_attribute("data-key"): row(page, i).get_attribute("data-tag") for i in range(4)}
    assert tags[keys[0]] == "model error" and tags[keys[1]] == "data error"


def test_export_is_served_and_reads_back(page) -> None:
    page.get_by_role("button", name="Export my tags (CSV)").click()
    link = page.locator("#errors-tags-export a").first
    link.wait_for(timeout=30_000)
    with page.expect_download(timeout=30_000) as download:
        link.click()
    lines = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {r["tag"] for r in lines} == {"model error", "data error"} and len(lines) == 2
    assert all("|" in r["key"] for r in lines)


def test_a_click_on_an_error_point_opens_its_detail(page) -> None:
    page.locator(XP).scroll_into_view_if_needed()
    before = page.locator("#error-head").inner_text()
    x, y = page.evaluate(JS_LONELY_ERROR)
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=5)
    page.wait_for_selector(f"{XP} .xp-card[data-row]", timeout=15_000)
    page.mouse.click(x, y)
    page.wait_for_function(
        "before => document.querySelector('#error-head').innerText !== before", arg=before, timeout=30_000
    )
    head = page.locator("#error-head").inner_text()
    card_id = page.locator(f"{XP} .xp-card .xp-id").inner_text()
    assert "truth ranked" in head and card_id in page.locator("#error-detail").inner_text()


def test_a_lasso_and_a_cluster_scope_the_grid(page) -> None:
    plot = page.locator(f"{XP} .xp-plot")
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    rx, ry = 0.47 * box["width"], 0.47 * box["height"]
    polygon = [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in [2 * math.pi * k / 8 for k in range(8)]]
    page.mouse.move(*polygon[0])  # from the right edge: the legend sits top left
    page.mouse.down()
    for corner in [*polygon[1:], polygon[0]]:
        page.mouse.move(*corner, steps=10)
    page.mouse.up()
    page.wait_for_function(
        f"() => Number(document.querySelector('{XP} .xp')?.dataset.selected || 0) > 0", timeout=30_000
    )
    selected = int(page.locator(f"{XP} .xp").get_attribute("data-selected"))
    scope = page.locator(f"{GRID} .eg-scope-text")
    scope.get_by_text(f"the errors of the {selected} selected points").wait_for(timeout=30_000)
    # gradio draws the rows as div[role=row] (its <tbody> copy is hidden, kept for measuring): click what is seen
    page.locator("#errors-clusters div[role=row]").first.get_by_role("gridcell").nth(1).click()
    scope.get_by_text("Showing cluster #").wait_for(timeout=30_000)


def test_explain_hands_the_open_pair_to_the_explain_tab(page, tmp_path: Path) -> None:
    row(page, 0).locator(".eg-open").click()
    sync_api.expect(page.locator("#error-head")).to_contain_text("truth ranked", timeout=30_000)
    page.get_by_role("button", name="Explain this pair (text vs image or sound) →").click()
    sync_api.expect(page.get_by_role("tab", name="Explain")).to_have_attribute("aria-selected", "true", timeout=30_000)
    sync_api.expect(page.get_by_text("deletion area").first).to_be_visible(timeout=RUN_SECONDS * 1000)
    page.wait_for_function(JS_IDLE, timeout=RUN_SECONDS * 1000)


def test_stop_ends_a_long_evaluation_and_keeps_what_was_shown(page, tmp_path: Path) -> None:
    """Stop during another dataset's evaluation: the server's job ends at its next block, the line beside the
    button says so, and the example evaluated above stays on the page."""
    import numpy as np

    from alignment.inputs.embeddings import from_arrays, save_npz

    n = 40_000  # ~10 s of scoring here: long enough to press Stop in the middle of it
    x = np.random.default_rng(0).normal(size=(2 * n, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [f"t{i}" for i in range(n)] + [f"i{i}" for i in range(n)]
    big = save_npz(
        tmp_path / "big.npz", from_arrays(ids, ["text"] * n + ["image"] * n, [str(i) for i in range(n)] * 2, x)
    )
    page.get_by_role("tab", name="Errors").click()
    summary = page.locator("#errors-summary [data-testid=markdown]").inner_text()
    upload = page.get_by_text("Paired dataset: manifest").first.locator(
        "xpath=ancestor::div[contains(@class,'block')][1]"
    )
    with page.expect_file_chooser() as chooser:
        upload.get_by_text("Click to Upload").click()
    chooser.value.set_files(str(big))
    sync_api.expect(upload.get_by_text("big.npz")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Evaluate", exact=True).click()
    page.wait_for_function(JS_SCORING, timeout=120_000)  # the job is under way: its progress line says so
    page.locator("#errors-stop").click()
    sync_api.expect(page.locator("#errors-stop-said")).to_contain_text("Stopped 1 job of yours", timeout=15_000)
    # the job is over (its progress line gone; its own error toast may not show: the click also cancelled the event)
    page.wait_for_function(f"() => !({JS_SCORING})()", timeout=30_000)
    shown = page.locator("#errors-summary [data-testid=markdown]").inner_text()
    assert shown == summary, "the example's results must stay"
    page.locator("#errors-stop").click()  # nothing runs now: said so, nothing else changes
    sync_api.expect(page.locator("#errors-stop-said")).to_contain_text("No job of yours was running")
