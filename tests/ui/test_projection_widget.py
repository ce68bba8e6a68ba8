"""The projection component in a real headless Chromium at 1440x900 (and one look at 390x844): hover shows the item,
a click opens it, a lasso fills the panel with the right points and metrics, tag all, export read back, 100k points.
The server-side functions the island calls are tested directly first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from explore_browser import (
    DESKTOP,
    PHONE,
    chromium,
    distance_to_edges,
    inside,
    keep_screenshot,
    needs_chromium,
    page_xy,
    served,
)

from alignment.views.points import point_set
from alignment.views.selection import read_selection, selection_keys, selection_stats
from ui.widgets import demo_explore
from ui.widgets.demo_data import HOSTILE, scale_points
from ui.widgets.islands import MemoryTagger
from ui.widgets.projection import ProjectionExplorer

SEL = "#projection"
DRAWN = "() => document.querySelector('#projection .xp')?.dataset.drawn"
SELECTED = "() => document.querySelector('#projection .xp').selectedRows?.length > 0"
N_PAIRS = 300


@pytest.fixture(scope="module")
def data():
    return demo_explore.planted(N_PAIRS, "pca", True)


@pytest.fixture(scope="module")
def points(data):
    return point_set(data.evaluation, "shared", data.coords)


# ---------------------------------------------------------------------------- server side, no browser


def test_server_functions_answer_and_refuse_by_name(data, points) -> None:
    import gradio as gr

    with gr.Blocks():
        explorer = ProjectionExplorer(max_views=1)
    tagger = MemoryTagger()
    value = json.loads(explorer.show(points, embeddings=data.embedded.embeddings, item=data.item, tagger=tagger))
    token = value["token"]
    assert value["n"] == len(points) and value["can_tag"]
    image_row = data.embedded.modality.index("image")
    card = explorer._card({"token": token, "row": image_row})
    assert card["id"] == points.ids[image_row] and card["preview"]["image"].startswith("data:image/jpeg;base64,")
    audio_row = data.embedded.modality.index("audio")
    assert explorer._card({"token": token, "row": audio_row})["preview"]["audio"].startswith("data:audio/ogg;base64,")
    rows = list(range(0, 60, 2))
    panel = explorer._selected({"token": token, "rows": rows})
    assert panel["n"] == len(rows) and [i["row"] for i in panel["items"]] == rows
    assert panel["stats"] == selection_stats(points, np.array(rows)).to_json()
    errors = [e.query_row for e in data.evaluation.errors][:3]
    told = explorer._tag({"token": token, "rows": errors, "tag": "needs a second look"})
    assert told["tagged"] == len(selection_keys(points, np.array(errors)))
    assert set(tagger.tags().values()) == {"needs a second look"}
    colour = explorer._colour({"token": token, "by": "tag"})
    assert "needs a second look" in colour["categories"]
    lines = explorer._lines({"token": token, "rows": None})
    assert lines["total"] == N_PAIRS

    call = {f.__name__[3:]: f for f in explorer.html.server_fns}  # as the browser calls them, errors caught
    assert "outside" in call["card"]({"token": token, "row": len(points)})["error"]
    assert "a tag must be one line" in call["tag"]({"token": token, "rows": [0], "tag": "x" * 99})["error"]
    assert "expected one object" in call["card"]("row 3")["error"]
    explorer.show(points, embeddings=data.embedded.embeddings, item=data.item)  # max_views=1: the first one expires
    assert "has expired" in call["card"]({"token": token, "row": 0})["error"]


# ---------------------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def tagger() -> MemoryTagger:
    return MemoryTagger()


@pytest.fixture(scope="module")
def url(data, tagger, tmp_path_factory) -> Iterator[str]:
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
    page.on("dialog", lambda d: errors.append(f"a dialog opened: {d.message}"))  # an injected alert(1) would
    page.goto(url)
    page.wait_for_function(DRAWN, timeout=90_000)
    yield page
    page.close()
    assert errors == [], f"errors in the page: {errors}"


def isolated(pixels: np.ndarray, rows: np.ndarray) -> int:
    """The row among `rows` farthest (in pixels) from every other point: a hover there can only mean it."""
    gaps = [np.sort(np.linalg.norm(pixels - pixels[r], axis=1))[1] for r in rows.tolist()]
    return int(rows[int(np.argmax(gaps))])


def hover(page, xy: np.ndarray, row: int) -> None:
    page.mouse.move(float(xy[0]) - 30, float(xy[1]) - 30)
    page.mouse.move(float(xy[0]), float(xy[1]), steps=5)
    page.wait_for_selector(f'{SEL} .xp-card[data-row="{row}"]', timeout=15_000)


@needs_chromium
def test_hover_shows_the_item_and_a_click_opens_it(page, data) -> None:
    pixels = page_xy(page, SEL, data.coords)
    modality = np.asarray(data.embedded.modality)
    image = isolated(pixels, np.flatnonzero(modality == "image"))
    hover(page, pixels[image], image)
    card = page.locator(f"{SEL} .xp-card")
    assert card.locator(".xp-id").inner_text() == data.embedded.ids[image]
    assert card.locator("img").get_attribute("src").startswith("data:image/jpeg;base64,")
    assert page.locator(f"{SEL} .xp-tip").inner_text().startswith(data.embedded.ids[image])
    keep_screenshot(page, "projection-hover-1440.png")

    audio = isolated(pixels, np.flatnonzero(modality == "audio"))
    hover(page, pixels[audio], audio)
    player = card.locator("audio")
    assert player.get_attribute("src").startswith("data:audio/ogg;base64,")
    assert page.evaluate("() => document.querySelector('#projection .xp-card audio').canPlayType('audio/ogg')")

    hostile = np.array([i for i, item in enumerate(data.embedded.ids) if HOSTILE in item])
    odd = isolated(pixels, hostile)
    hover(page, pixels[odd], odd)
    assert card.locator(".xp-id").inner_text() == data.embedded.ids[odd]  # shown as text, not as markup
    assert page.locator("img[src='x']").count() == 0

    hover(page, pixels[image], image)  # plotly clicks the point it hovers, as for a user
    page.mouse.click(float(pixels[image][0]), float(pixels[image][1]))
    opened = page.locator("#opened")
    opened.get_by_text(data.embedded.ids[image]).wait_for(timeout=15_000)
    assert "image" in opened.inner_text()


@needs_chromium
def test_a_lasso_fills_the_panel_with_the_points_inside_and_exports_them(page, data, points, tagger) -> None:
    pixels = page_xy(page, SEL, data.coords)
    box = page.locator(f"{SEL} .xp-plot").bounding_box()
    centre = np.median(pixels, axis=0)
    angles = np.linspace(0, 2 * np.pi, 7)[:-1] + 0.3
    radius = 0.22 * min(box["width"], box["height"])
    polygon = centre + radius * np.stack([np.cos(angles), np.sin(angles) * 0.8], axis=1)  # a hexagon, in pixels
    opened = page.locator("#opened").inner_text()
    page.mouse.move(*polygon[0])
    page.mouse.down()
    for corner in [*polygon[1:], polygon[0]]:
        page.mouse.move(*corner, steps=12)
    page.mouse.up()
    page.wait_for_function(SELECTED, timeout=15_000)
    page.locator(f"{SEL} .xp-grid .xp-thumb").first.wait_for(timeout=15_000)

    selected = np.array(page.evaluate("() => Array.from(document.querySelector('#projection .xp').selectedRows)"))
    expected = inside(pixels, polygon)
    sure = distance_to_edges(pixels, polygon) > 4  # points on the lasso's line may fall either way
    assert set(np.flatnonzero(expected & sure)) <= set(selected.tolist()) <= set(np.flatnonzero(expected | ~sure))
    assert len(selected) > 20
    assert page.locator("#opened").inner_text() == opened  # a lasso opens nothing
    panel = page.locator(f"{SEL} .xp-sel")
    assert panel.locator(".xp-sel-count").inner_text() == f"{len(selected)} selected"
    titles = [t.get_attribute("title") for t in panel.locator(".xp-thumb").all()]
    assert titles == [data.embedded.ids[r] for r in selected[:60].tolist()]  # the right ids, in row order
    stats = selection_stats(points, selected)
    values = panel.locator(".xp-stat-v").all_inner_texts()
    assert values[0] == ("–" if stats.r1 is None else f"{stats.r1:.2f}") and values[2] == str(stats.errors)
    scope = page.locator("#error-grid .eg-scope-text")
    scope.get_by_text(f"{len(selected)} selected points").wait_for(timeout=15_000)
    assert f"({len(selection_keys(points, selected))} errors)" in scope.inner_text()
    keep_screenshot(page, "projection-lasso-1440.png")

    with page.expect_download(timeout=30_000) as download:
        panel.get_by_role("button", name="CSV").click()
        page.locator(f"{SEL}-export a").first.click(timeout=30_000)
    back = read_selection(Path(download.value.path()).read_bytes(), "csv")
    assert back["id"].tolist() == [data.embedded.ids[r] for r in selected.tolist()]
    np.testing.assert_allclose(np.stack(back["embedding"].to_list()), data.embedded.embeddings[selected], rtol=1e-6)

    before = set(tagger.tags())
    panel.get_by_role("button", name="2 data error").click()
    page.locator(f"{SEL} .xp-status").get_by_text("Tagged").wait_for(timeout=15_000)
    keys = set(selection_keys(points, selected))
    assert keys <= set(tagger.tags()) and all(tagger.tags()[k] == "data error" for k in keys - before)


@needs_chromium
def test_colour_by_cluster_names_the_clusters_in_the_legend(page) -> None:
    page.select_option(f"{SEL} .xp-colour", "cluster")
    page.wait_for_function("() => document.querySelector('#projection .xp').dataset.drawn.endsWith(':cluster')")
    legend = page.locator(f"{SEL} .legendtext").all_text_contents()  # SVG text
    assert len(legend) > 3 and all(t.startswith("#") or t.startswith("noise") for t in legend)
    page.locator(f"{SEL} .xp-lines").check()
    page.wait_for_function("() => document.querySelectorAll('#projection .legendtext').length > 0")
    page.locator(f"{SEL} .legendtext", has_text="true pairs").wait_for(timeout=15_000)


@needs_chromium
def test_box_selection_and_pan_mode(page, data) -> None:
    page.locator(f"{SEL} button[data-act='clear']").click()
    page.wait_for_function(f"() => document.querySelector('{SEL} .xp').dataset.selected === '0'")
    page.locator(f"{SEL} .xp-mode[data-mode='box']").click()
    pixels = page_xy(page, SEL, data.coords)
    (x0, y0), (x1, y1) = np.quantile(pixels, 0.3, axis=0), np.quantile(pixels, 0.7, axis=0)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    page.wait_for_function(f"() => document.querySelector('{SEL} .xp').dataset.selected !== '0'")
    rectangle = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    sure = distance_to_edges(pixels, rectangle) > 2
    expected = inside(pixels, rectangle)
    selected = set(page.evaluate("() => Array.from(document.querySelector('#projection .xp').selectedRows)"))
    assert set(np.flatnonzero(expected & sure)) <= selected <= set(np.flatnonzero(expected | ~sure))
    page.locator(f"{SEL} .xp-mode[data-mode='pan']").click()
    page.wait_for_function("() => document.querySelector('#projection .xp-plot')._fullLayout.dragmode === 'pan'")
    page.locator(f"{SEL} button[data-act='clear']").click()
    page.wait_for_function(f"() => document.querySelector('{SEL} .xp').dataset.selected === '0'")
    page.locator(f"{SEL} .xp-mode[data-mode='lasso']").click()


@needs_chromium
def test_phone_width_stacks_the_panel_under_the_plot(browser, url) -> None:
    page = browser.new_page(viewport=PHONE)
    page.goto(url)
    page.wait_for_function(DRAWN, timeout=90_000)
    plot = page.locator(f"{SEL} .xp-plot").bounding_box()
    side = page.locator(f"{SEL} .xp-side").bounding_box()
    assert side["y"] >= plot["y"] + plot["height"] - 1 and plot["width"] <= PHONE["width"]
    keep_screenshot(page, "explore-390.png", full_page=True)
    page.close()


# ---------------------------------------------------------------------------- 100k points


@needs_chromium
def test_100k_points_draw_hover_and_select(browser) -> None:
    n = 100_000
    points, _, _ = scale_points(n)
    with served(demo_explore.build_scale_demo(n)) as address:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(address)
        page.wait_for_function(DRAWN, timeout=180_000)
        pixels = page_xy(page, SEL, points.coords)
        sample = np.random.default_rng(0).choice(n, 300, replace=False)
        row = isolated(pixels, sample)
        hover(page, pixels[row], row)
        assert page.locator(f"{SEL} .xp-card .xp-id").inner_text() == points.ids[row]
        keep_screenshot(page, "projection-100k-1440.png")
        box = page.locator(f"{SEL} .xp-plot").bounding_box()
        corners = np.array([[0.3, 0.3], [0.6, 0.3], [0.6, 0.6], [0.3, 0.6]]) * [box["width"], box["height"]]
        polygon = corners + [box["x"], box["y"]]
        page.mouse.move(*polygon[0])
        page.mouse.down()
        for corner in [*polygon[1:], polygon[0]]:
            page.mouse.move(*corner, steps=10)
        page.mouse.up()
        page.wait_for_function(SELECTED, timeout=60_000)
        count = int(page.locator(f"{SEL} .xp").get_attribute("data-selected"))
        sure = distance_to_edges(pixels, polygon) > 4
        expected = inside(pixels, polygon)
        assert int((expected & sure).sum()) <= count <= int((expected | ~sure).sum())
        page.close()
