"""The error grid: its server side directly, then triage in a real headless Chromium at 1440x900 (keyboard tags,
bulk and custom tags, Enter opens, range filters over a virtual list, errors near a text)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import gradio as gr
import numpy as np
import pytest
from explore_browser import DESKTOP, chromium, keep_screenshot, needs_chromium, served

from alignment.analysis.clusters import ClusterParams, find_clusters
from alignment.views.cluster_table import cluster_rows, stats_for
from alignment.views.points import point_set
from alignment.views.triage import ErrorFilter, error_table, errors_near, select_errors
from ui.widgets import demo_explore
from ui.widgets.demo_data import HOSTILE
from ui.widgets.error_grid import ErrorGrid
from ui.widgets.islands import MemoryTagger

GRID = "#error-grid"
N_PAIRS = 300


@pytest.fixture(scope="module")
def data():
    return demo_explore.planted(N_PAIRS, "pca", True)


@pytest.fixture(scope="module")
def table(data):
    return error_table(data.evaluation)


# ---------------------------------------------------------------------------- server side, no browser


def test_rows_tags_and_nearness_from_the_server_side(data, table) -> None:
    with gr.Blocks():
        grid = ErrorGrid(near_inputs=False)
    tagger = MemoryTagger()
    value = grid.show(data.evaluation, item=data.item, tagger=tagger, embed_query=data.embed_query)
    token = json.loads(value)["token"]
    page = grid._rows({"token": token, "filter": {"margin": [0.2, None]}, "sort": "rank", "start": 0, "count": 5})
    expected = select_errors(table, ErrorFilter(margin=(0.2, None)), tags={}, sort="rank")
    assert page["total"] == len(expected) and [r["e"] for r in page["rows"]] == expected[:5].tolist()
    first = page["rows"][0]
    assert first["q"]["id"] == table.query[first["e"]] and {"q", "t", "w"} <= set(first)
    media = next(side for r in page["rows"] for side in (r["q"], r["t"], r["w"]) if side["modality"] == "image")
    assert media["preview"]["image"].startswith("data:image/jpeg;base64,")

    keys = [table.keys[0], table.keys[1]]
    assert grid._tag({"token": token, "keys": keys, "tag": "model error"})["tagged"] == 2
    assert {k: tagger.tags()[k] for k in keys} == dict.fromkeys(keys, "model error")
    tagged = grid._rows({"token": token, "filter": {"tags": ["model error"]}, "sort": "order", "descending": False})
    assert [r["key"] for r in tagged["rows"]] == keys

    scoped = json.loads(grid.scoped(value, keys[:1], label="one error"))
    assert scoped["scope"] == "Showing one error (1 errors)"
    assert grid._rows({"token": token, "filter": None})["total"] == 1
    grid._unscope({"token": token})
    near = json.loads(grid.near(value, data.embed_query("text", "a parrot"), label="parrot"))
    assert near["near"] == "parrot"
    ordered = grid._rows({"token": token, "sort": "near", "start": 0, "count": 3})["rows"]
    cosines = errors_near(table, data.evaluation.spaces, data.embed_query("text", "a parrot"))
    assert ordered[0]["e"] == int(np.nanargmax(cosines)) and ordered[0]["near"] >= ordered[1]["near"]

    call = {f.__name__[3:]: f for f in grid.html.server_fns}  # as the browser calls them, errors caught
    assert "count 1 to 100" in call["rows"]({"token": token, "count": 10_000})["error"]
    assert "this grid's error keys" in call["tag"]({"token": token, "keys": ["nope"], "tag": "fixed"})["error"]
    assert "unknown filter fields" in call["rows"]({"token": token, "filter": {"size": 1}})["error"]
    assert "no sound" in call["audio"]({"token": token, "modality": "audio", "id": "nope"})["error"]
    with pytest.raises(ValueError, match="only knows its own photos"):
        data.embed_query("image", __file__)


# ---------------------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def tagger() -> MemoryTagger:
    return MemoryTagger()


@pytest.fixture(scope="module")
def url(tagger, tmp_path_factory) -> Iterator[str]:
    demo = demo_explore.build_demo(
        n_pairs=N_PAIRS, method="pca", hostile=True, new_tagger=lambda: tagger, cache_dir=tmp_path_factory.mktemp("c")
    )
    with served(demo) as address:
        yield address


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def page(browser, url):
    """One page for the module's tests, in file order (each leaves the page as a user would find it)."""
    page = browser.new_page(viewport=DESKTOP)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: errors.append(f"a dialog opened: {d.message}"))
    page.goto(url)
    page.wait_for_selector(f'{GRID} .eg-row[data-index="0"]', timeout=90_000)
    yield page
    page.close()
    assert errors == [], f"errors in the page: {errors}"


def row(page, i: int):
    return page.locator(f'{GRID} .eg-row[data-index="{i}"]')


@needs_chromium
def test_two_errors_tagged_with_the_keyboard(page, table, tagger) -> None:
    worst = select_errors(table, ErrorFilter(), tags={}, sort="margin")
    assert row(page, 0).get_attribute("data-key") == table.keys[worst[0]]  # largest margin first
    row(page, 0).locator(".eg-meta .eg-n").click()
    page.keyboard.press("1")  # tags the current row and moves on, without waiting for the server
    page.keyboard.press("2")
    row(page, 0).locator(".eg-tag", has_text="model error").wait_for(timeout=15_000)
    row(page, 1).locator(".eg-tag", has_text="data error").wait_for(timeout=15_000)
    wanted = {table.keys[worst[0]], table.keys[worst[1]]}
    for _ in range(100):  # the two server calls may still be on their way
        if wanted <= set(tagger.tags()):
            break
        page.wait_for_timeout(100)
    keep_screenshot(page, "error-grid-1440.png")
    tags = tagger.tags()
    assert tags[table.keys[worst[0]]] == "model error" and tags[table.keys[worst[1]]] == "data error"
    assert "eg-cur" in row(page, 2).get_attribute("class")


@needs_chromium
def test_select_with_x_tag_in_bulk_custom_tags_and_enter_opens(page, table, tagger) -> None:
    row(page, 3).locator(".eg-meta .eg-n").click()
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("k")
    page.locator(f"{GRID} .eg-selcount").get_by_text("2 selected").wait_for(timeout=5_000)
    keys = [row(page, i).get_attribute("data-key") for i in (3, 4)]
    page.keyboard.press("3")  # with a selection, 1-4 tag the selection
    row(page, 4).locator(".eg-tag", has_text="ambiguous").wait_for(timeout=15_000)
    assert [tagger.tags()[k] for k in keys] == ["ambiguous", "ambiguous"]
    page.locator(f"{GRID} .eg-custom").fill("caption mentions two things")
    page.locator(f"{GRID} .eg-custom").press("Enter")
    row(page, 3).locator(".eg-tag", has_text="caption mentions two things").wait_for(timeout=15_000)
    assert [tagger.tags()[k] for k in keys] == ["caption mentions two things"] * 2

    list_box = page.locator(f"{GRID} .eg-list")
    list_box.focus()
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    e = table.keys.index(keys[0])
    page.locator("#opened").get_by_text(f"error {e}:").wait_for(timeout=15_000)
    assert table.query[e] in page.locator("#opened").inner_text()


@needs_chromium
def test_range_filters_narrow_a_virtual_list(page, table) -> None:
    page.locator(f'{GRID} input[data-f="margin"][data-i="0"]').fill("0.4")
    page.locator(f'{GRID} input[data-f="rank"][data-i="1"]').fill("50")
    expected = select_errors(table, ErrorFilter(margin=(0.4, None), rank=(None, 50)), tags={})
    page.wait_for_function(f"() => document.querySelector('{GRID} .eg').dataset.total === '{len(expected)}'")
    assert page.locator(f"{GRID} .eg-count").inner_text().startswith(f"{len(expected)} of {len(table)} errors")
    first = row(page, 0).get_attribute("data-key")
    assert first == table.keys[expected[0]]
    page.locator(f'{GRID} input[data-f="margin"][data-i="0"]').fill("")
    page.locator(f'{GRID} input[data-f="rank"][data-i="1"]').fill("")
    page.wait_for_function(f"() => document.querySelector('{GRID} .eg').dataset.total === '{len(table)}'")
    shown = page.locator(f"{GRID} .eg-row").count()
    assert len(table) > 100 and shown < 20  # only the rows on screen (and a few beyond) are in the DOM
    page.locator(f"{GRID} .eg-list").evaluate("l => { l.scrollTop = l.scrollHeight; }")
    row(page, len(table) - 1).wait_for(timeout=15_000)

    page.locator(f'{GRID} input[data-f="search"]').fill("onerror")  # ids and captions from strangers stay text
    hostile = select_errors(table, ErrorFilter(search="onerror"), tags={})
    assert len(hostile) > 0
    page.wait_for_function(f"() => document.querySelector('{GRID} .eg').dataset.total === '{len(hostile)}'")
    assert HOSTILE in row(page, 0).inner_text()
    assert page.locator("img[src='x']").count() == 0
    page.locator(f'{GRID} input[data-f="search"]').fill("")
    page.wait_for_function(f"() => document.querySelector('{GRID} .eg').dataset.total === '{len(table)}'")


@needs_chromium
def test_a_click_in_the_cluster_table_lists_that_clusters_errors(page, data, table) -> None:
    e = data.embedded
    found = find_clusters(e.embeddings, e.modality, e.pair, data.captions, params=ClusterParams(min_cluster_size=15))
    points = point_set(data.evaluation, "shared", data.coords, clusters=found)
    worst = stats_for(points)[0]  # the table's first row
    keys = [k for r in cluster_rows(found, worst.cluster) for k in points.error_keys[r]]
    page.locator("#clusters").get_by_text(worst.name, exact=True).locator("visible=true").first.click()
    page.locator(f"{GRID} .eg-scope-text").get_by_text(worst.name).wait_for(timeout=30_000)
    assert f"({len(keys)} errors)" in page.locator(f"{GRID} .eg-scope-text").inner_text()
    page.wait_for_function(f"() => document.querySelector('{GRID} .eg').dataset.total === '{len(keys)}'")
    page.locator(f"{GRID} .eg-scope").get_by_role("button", name="show all errors").click()
    page.wait_for_function(f"() => document.querySelector('{GRID} .eg').dataset.total === '{len(table)}'")


@needs_chromium
def test_errors_near_a_text(page, data, table) -> None:
    page.locator(f"{GRID}-near").get_by_text("Errors near this text, image or sound").click()
    page.locator(f"{GRID}-near textarea").fill("a colourful parrot")
    page.get_by_role("button", name="Sort the grid by nearness").click()
    page.wait_for_function(f"() => document.querySelector('{GRID} .eg-sort').value === 'near:desc'", timeout=30_000)
    cosines = errors_near(table, data.evaluation.spaces, data.embed_query("text", "a colourful parrot"))
    best = table.keys[int(np.nanargmax(cosines))]
    page.wait_for_function(
        f"() => document.querySelector('{GRID} .eg-row[data-index=\"0\"]')?.dataset.key === {json.dumps(best)}",
        timeout=30_000,
    )
    assert "near " in row(page, 0).locator(".eg-meta").inner_text()
