"""Regenerate the screenshots of docs/EXPLORE.md: the explore demo driven in headless Chromium at 1440x900 and
390x844 (hover, lasso, keyboard triage, clusters) and the 100k-point scale check.

    .venv/bin/python -m docs.explore.make_screenshots
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.ui.explore_browser import DESKTOP, PHONE, chromium, page_xy, served
from ui.widgets import demo_explore

OUT = Path(__file__).resolve().parent
XP = "#projection"
DRAWN = "() => document.querySelector('#projection .xp')?.dataset.drawn"


def hover_point(page, xy: np.ndarray, row: int) -> None:
    page.mouse.move(float(xy[0]) - 20, float(xy[1]) - 20)
    page.mouse.move(float(xy[0]), float(xy[1]), steps=4)
    page.wait_for_selector(f'{XP} .xp-card[data-row="{row}"]', timeout=20_000)
    page.wait_for_timeout(400)


def lonely(pixels: np.ndarray, rows: np.ndarray) -> int:
    gaps = [np.sort(np.linalg.norm(pixels - pixels[r], axis=1))[1] for r in rows.tolist()]
    return int(rows[int(np.argmax(gaps))])


def main() -> None:
    data = demo_explore.planted(600, "pca", False)
    modality = np.asarray(data.embedded.modality)
    errors = np.zeros(len(modality), bool)
    errors[[e.query_row for e in data.evaluation.errors]] = True
    with served(demo_explore.build_demo(n_pairs=600)) as url, chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(url)
        page.wait_for_function(DRAWN, timeout=120_000)
        plot_top = page.locator(f"{XP} .xp-bar").bounding_box()["y"]
        page.evaluate(f"window.scrollTo(0, {plot_top - 10})")
        page.wait_for_timeout(300)
        pixels = page_xy(page, XP, data.coords)  # viewport pixels, after the scroll
        image = lonely(pixels, np.flatnonzero(modality == "image"))
        hover_point(page, pixels[image], image)
        page.screenshot(path=str(OUT / "hover-image-1440.png"))
        audio = lonely(pixels, np.flatnonzero(modality == "audio"))
        hover_point(page, pixels[audio], audio)
        page.screenshot(path=str(OUT / "hover-audio-1440.png"))

        # lasso the densest patch of errors: a hexagon around the error point with the most error neighbours
        err_px = pixels[errors]
        crowd = [(np.linalg.norm(err_px - p, axis=1) < 40).sum() for p in err_px]
        centre = err_px[int(np.argmax(crowd))]
        angles = np.linspace(0, 2 * np.pi, 7)[:-1]
        polygon = centre + 55 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        page.mouse.move(*polygon[0])
        page.mouse.down()
        for corner in [*polygon[1:], polygon[0]]:
            page.mouse.move(*corner, steps=10)
        page.mouse.up()
        page.locator(f"{XP} .xp-thumb").first.wait_for(timeout=20_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(OUT / "lasso-1440.png"))

        # the grid, narrowed to the lasso's errors, after tagging two with the keyboard
        grid = page.locator("#error-grid .eg-scope")
        grid.wait_for(timeout=20_000)
        page.locator('#error-grid .eg-row[data-index="0"] .eg-n').click()
        page.keyboard.press("1")
        page.keyboard.press("2")
        page.keyboard.press("x")
        page.wait_for_timeout(600)
        page.evaluate("document.querySelector('#error-grid').scrollIntoView()")
        page.wait_for_timeout(400)
        page.screenshot(path=str(OUT / "grid-1440.png"))

        page.evaluate(f"window.scrollTo(0, {plot_top - 10})")
        page.locator(f"{XP} button[data-act='clear']").click()
        page.select_option(f"{XP} .xp-colour", "cluster")
        page.wait_for_function("() => document.querySelector('#projection .xp').dataset.drawn.endsWith(':cluster')")
        page.mouse.move(5, 5)
        page.wait_for_timeout(600)
        page.screenshot(path=str(OUT / "clusters-1440.png"))
        page.evaluate("document.querySelector('#clusters').scrollIntoView({block: 'start'})")
        page.wait_for_timeout(400)
        page.screenshot(path=str(OUT / "cluster-table-1440.png"))
        page.close()

        phone = browser.new_page(viewport=PHONE)
        phone.goto(url)
        phone.wait_for_function(DRAWN, timeout=120_000)
        phone.evaluate("document.querySelector('#projection .xp-bar').scrollIntoView({block: 'start'})")
        phone.screenshot(path=str(OUT / "projection-390.png"))
        phone.evaluate("document.querySelector('#error-grid .eg-actions').scrollIntoView({block: 'start'})")
        phone.wait_for_timeout(500)
        phone.screenshot(path=str(OUT / "grid-390.png"))
        phone.close()

    with served(demo_explore.build_scale_demo(100_000)) as url, chromium() as browser:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(url)
        page.wait_for_function(DRAWN, timeout=300_000)
        box = page.locator(f"{XP} .xp-plot").bounding_box()
        corners = np.array([[0.42, 0.3], [0.62, 0.32], [0.6, 0.55], [0.4, 0.5]]) * [box["width"], box["height"]]
        polygon = corners + [box["x"], box["y"]]
        page.mouse.move(*polygon[0])
        page.mouse.down()
        for corner in [*polygon[1:], polygon[0]]:
            page.mouse.move(*corner, steps=8)
        page.mouse.up()
        page.locator(f"{XP} .xp-thumb").first.wait_for(timeout=120_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(OUT / "scale-100k-1440.png"))
        page.close()


if __name__ == "__main__":
    main()
