"""Helpers for the explore widgets' browser tests (not a test file): launch a Blocks, open Chromium, map plot points.

Chromium is started with the project's flags (see test_browser.py); WebGL then runs on SwiftShader, which is what
draws plotly's scattergl in a headless browser without a GPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from browser import CHROMIUM, CHROMIUM_ARGS, chromium, free_port, needs_chromium, served  # one definition, re-exported

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "DESKTOP", "PHONE", "chromium", "free_port", "needs_chromium", "served"]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

# Plotly's axes are linear here, so two points of each axis (l2p of 0 and 1) give the whole map to page pixels.
JS_AXES = """sel => {
  const gd = document.querySelector(sel + ' .xp-plot');
  const fl = gd._fullLayout, box = gd.getBoundingClientRect();
  const x = fl.xaxis, y = fl.yaxis;
  return [box.left + fl._size.l, x.l2p(0), x.l2p(1), box.top + fl._size.t, y.l2p(0), y.l2p(1)];
}"""


def page_xy(page, selector: str, coords: np.ndarray) -> np.ndarray:
    """(n, 2) viewport pixels of plot coordinates (n, 2) in the projection island `selector`."""
    left, x0, x1, top, y0, y1 = page.evaluate(JS_AXES, selector)
    coords = np.asarray(coords, dtype=np.float64)
    return np.stack([left + x0 + (x1 - x0) * coords[:, 0], top + y0 + (y1 - y0) * coords[:, 1]], axis=1)


def inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(n,) bool: which points lie inside a polygon (ray casting), all in pixels."""
    x, y = points[:, 0], points[:, 1]
    out = np.zeros(len(points), bool)
    for (x1, y1), (x2, y2) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        crosses = ((y1 > y) != (y2 > y)) & (x < (x2 - x1) * (y - y1) / np.where(y2 == y1, 1e-12, y2 - y1) + x1)
        out ^= crosses
    return out


def distance_to_edges(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(n,) pixels from each point to the polygon's nearest edge."""
    best = np.full(len(points), np.inf)
    for a, b in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        ab = b - a
        t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-12), 0, 1)
        best = np.minimum(best, np.linalg.norm(points - (a + t[:, None] * ab), axis=1))
    return best


def keep_screenshot(page, name: str, *, full_page: bool = False) -> Path | None:
    """A screenshot into $ALIGN_SCREENSHOT_DIR when it is set (docs/explore holds the ones the docs show)."""
    folder = os.environ.get("ALIGN_SCREENSHOT_DIR")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / name
    page.screenshot(path=str(path), full_page=full_page)
    return path
