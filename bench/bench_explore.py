"""The explore widgets at scale in headless Chromium: payload size, first render, hover, lasso; the error grid's
first rows, a jump to the middle and a filter at 100k errors. Prints the machine line and a Markdown table.

    .venv/bin/python -m bench.bench_explore                       # 10k and 100k points, 100k errors
    .venv/bin/python -m bench.bench_explore --points 100000 --errors 0

Times are wall-clock milliseconds in the browser (performance.now(), from navigation start for first render and
first rows); the app server runs in this process, on the same cores as Chromium. WebGL is SwiftShader (no GPU).
"""

from __future__ import annotations

import argparse
import time

import gradio as gr
import numpy as np

from alignment.analysis.evaluate import ErrorRow, Evaluation
from alignment.inputs.embeddings import from_arrays
from bench.machine import load_average, machine_line, table
from tests.ui.explore_browser import DESKTOP, chromium, served
from ui.widgets.demo_data import scale_points
from ui.widgets.error_grid import ROW_H, ErrorGrid
from ui.widgets.projection import ProjectionExplorer

XP = "#projection .xp"


def projection_case(browser, n: int) -> dict:
    points, vectors, items = scale_points(n)
    holder: dict = {}
    with gr.Blocks() as demo:
        explorer = ProjectionExplorer(elem_id="projection", height=640)

        def load() -> str:
            start = time.perf_counter()
            holder["value"] = explorer.show(points, embeddings=vectors, item=lambda m, i: items.get((m, i)))
            holder["show_ms"] = 1000 * (time.perf_counter() - start)
            return holder["value"]

        demo.load(load, None, explorer.html)
    with served(demo) as url:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(url)
        page.wait_for_function(f"() => document.querySelector('{XP}')?.dataset.drawn", timeout=300_000)
        data = page.evaluate(f"() => ({{...document.querySelector('{XP}').dataset}})")
        arrived = float(data["valueAt"])
        heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize : null")
        box = page.locator("#projection .xp-plot").bounding_box()
        # hover: the first point of the first trace
        x, y = page.evaluate(
            """() => { const gd = document.querySelector('#projection .xp-plot'), fl = gd._fullLayout;
                const r = gd.getBoundingClientRect(), t = gd.data[0];
                return [r.left + fl._size.l + fl.xaxis.l2p(t.x[0]), r.top + fl._size.t + fl.yaxis.l2p(t.y[0])]; }"""
        )
        page.mouse.move(5, 5)  # outside the plot, then one jump: a single hover, a card not fetched before
        start = page.evaluate("() => performance.now()")
        page.mouse.move(x, y)
        page.wait_for_function(f"() => Number(document.querySelector('{XP}').dataset.cardAt || 0) > {start}")
        hover_ms = float(page.locator(XP).get_attribute("data-card-at")) - start
        # lasso: a square over the middle third of the plot
        corners = np.array([[0.35, 0.35], [0.65, 0.35], [0.65, 0.65], [0.35, 0.65], [0.35, 0.35]])
        polygon = corners * [box["width"], box["height"]] + [box["x"], box["y"]]
        page.mouse.move(*polygon[0])
        page.mouse.down()
        moving = time.perf_counter()
        for corner in polygon[1:]:
            page.mouse.move(*corner, steps=3)  # plotly re-selects and redraws on every move of a lasso drag
        per_move = 1000 * (time.perf_counter() - moving) / (3 * (len(polygon) - 1))
        start = page.evaluate("() => performance.now()")
        page.mouse.up()
        page.wait_for_function(
            f"() => Number(document.querySelector('{XP}').dataset.panelAt || 0) > {start}", timeout=120_000
        )
        lasso_ms = float(page.locator(XP).get_attribute("data-panel-at")) - start
        selected = int(page.locator(XP).get_attribute("data-selected"))
        page.close()
    return {
        "case": f"projection, {n:,} points",
        "payload": f"{len(holder['value']) / 1e6:.2f} MB",
        "data in the page": f"{arrived:.0f} ms",
        "drawn": f"{float(data['drawnAt']):.0f} ms",
        "of which": f"plotly import {data.get('importMs', '0')}, traces {data['tracesMs']}, react {data['drawMs']} ms",
        "hover card": f"{hover_ms:.0f} ms",
        "lasso drag": f"{per_move:.0f} ms per mouse move",
        "lasso to panel": f"{lasso_ms:.0f} ms ({selected:,} points)",
        "JS heap": f"{heap / 2**20:.0f} MiB" if heap else "n/a",
    }


def grid_case(browser, n_errors: int) -> dict:
    points, vectors, items = scale_points(2 * n_errors)
    space = from_arrays(points.ids, points.modality, points.pair, vectors, label=points.label, source="bench")
    rng = np.random.default_rng(0)
    errors = []
    for q in range(n_errors):  # planted error rows: each caption's "top wrong match" is another pair's media
        truth, top = 2 * q + 1, int(rng.integers(0, n_errors)) * 2 + 1
        truth_score, top_score = float(rng.uniform(0.1, 0.5)), float(rng.uniform(0.5, 0.9))
        errors.append(
            ErrorRow("text->media", "shared", points.ids[2 * q], "text", points.ids[truth], truth_score,
                     points.ids[top], top_score, int(rng.integers(2, 500)), top_score - truth_score, 2 * q, truth, top)
        )  # fmt: skip
    evaluation = Evaluation({"shared": space}, {}, {}, {}, errors)
    with gr.Blocks() as demo:
        grid = ErrorGrid(elem_id="error-grid", height=620, near_inputs=False)
        demo.load(lambda: grid.show(evaluation, item=lambda m, i: items.get((m, i))), None, grid.html)
    with served(demo) as url:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(url)
        page.wait_for_function("() => document.querySelector('#error-grid .eg')?.dataset.rowsAt", timeout=300_000)
        first = float(page.locator("#error-grid .eg").get_attribute("data-rows-at"))
        middle = n_errors // 2
        scroll = "top => { document.querySelector('#error-grid .eg-list').scrollTop = top; return performance.now(); }"
        start = page.evaluate(scroll, middle * ROW_H)
        page.wait_for_selector(f'#error-grid .eg-row[data-index="{middle}"] .eg-cell', timeout=60_000)
        jump_ms = page.evaluate("() => performance.now()") - start
        dom_rows = page.locator("#error-grid .eg-row").count()
        start = page.evaluate("() => performance.now()")
        page.locator('#error-grid input[data-f="margin"][data-i="0"]').fill("0.3")
        page.wait_for_function(f"() => Number(document.querySelector('#error-grid .eg').dataset.total) < {n_errors}")
        page.wait_for_selector('#error-grid .eg-row[data-index="0"]', timeout=60_000)
        filter_ms = page.evaluate("() => performance.now()") - start
        total = int(page.locator("#error-grid .eg").get_attribute("data-total"))
        page.close()
    return {
        "case": f"error grid, {n_errors:,} errors",
        "first rows": f"{first:.0f} ms from navigation",
        "jump to the middle": f"{jump_ms:.0f} ms (row {middle:,} drawn with its previews)",
        "margin >= 0.3 filter": f"{filter_ms:.0f} ms incl. 250 ms debounce ({total:,} left)",
        "rows in the DOM": dom_rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", default="10000,100000", help="comma-separated point counts")
    parser.add_argument("--errors", type=int, default=100_000, help="errors in the grid case (0: skip it)")
    args = parser.parse_args(argv)
    print(machine_line())
    tables: dict[str, list[dict]] = {"projection": [], "grid": []}
    with chromium() as browser:
        for n in [int(v) for v in args.points.split(",") if v]:
            tables["projection"].append(projection_case(browser, n))
            print(tables["projection"][-1], f"(load average {load_average()})", flush=True)
        if args.errors:
            tables["grid"].append(grid_case(browser, args.errors))
            print(tables["grid"][-1], f"(load average {load_average()})", flush=True)
    for rows in tables.values():
        if rows:
            print(table(list(rows[0]), [list(r.values()) for r in rows]))


if __name__ == "__main__":
    main()
