"""The errors tab at scale: time to evaluate a planted embeddings file and to show its first grid and projection,
server side at 10k and 100k rows and in headless Chromium, and what one session holds for the bundled example.

    .venv/bin/python -m bench.bench_errors_tab                       # 10k and 100k rows, browser, memory
    .venv/bin/python -m bench.bench_errors_tab --sizes 10000 --no-browser

Server side (one process, no page): read the .npz, evaluate (the library's engine), the first layout (PCA, or the
cached UMAP), the grid's and the projection's first values (what /evaluate returns), then UMAP + clusters (the step
that follows the first drawing), and the RSS the session added. In the browser (the app on a free port, the dataset
chosen from $ALIGN_DATASETS, Chromium with SwiftShader WebGL): seconds from the Evaluate click to the grid's first
row and to the drawn projection, and to UMAP + clusters shown. At 100k the browser run reuses the evaluation the
server-side pass made (evaluate is patched to return it; its time is the server-side column): the page's own work
is what is measured there.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.machine import load_average, machine_line, rss_mb, table

D = 512


def planted_file(n: int, folder: Path, *, seed: int = 0) -> Path:
    """n rows (n/2 captions, n/2 images) in 100 concepts, D=512, 3 % of the images swapped with another pair's."""
    rng = np.random.default_rng(seed)
    pairs = n // 2
    centres = rng.standard_normal((100, D)).astype(np.float32)
    concept = rng.integers(0, 100, pairs)
    base = centres[concept] + 0.6 * rng.standard_normal((pairs, D)).astype(np.float32)
    text = base + 0.45 * rng.standard_normal((pairs, D)).astype(np.float32)
    image = base + 0.45 * rng.standard_normal((pairs, D)).astype(np.float32)
    swap = rng.choice(pairs, int(0.03 * pairs), replace=False)
    image[swap] = image[np.roll(swap, 1)]
    from alignment.inputs.embeddings import from_arrays, save_npz

    ids = [f"caption {i}" for i in range(pairs)] + [f"img_{i:06d}.jpg" for i in range(pairs)]
    modality = ["text"] * pairs + ["image"] * pairs
    label = [""] * pairs + [f"concept {c}" for c in concept.tolist()]
    embedded = from_arrays(
        ids, modality, [f"p{i}" for i in range(pairs)] * 2, np.concatenate([text, image]), label=label
    )
    return save_npz(folder / f"planted-{n}.npz", embedded)


def server_side(path: Path, models, database) -> tuple[dict, object]:
    """Seconds per phase of opening `path` as the errors tab does, and the Explorer."""
    import gradio as gr

    from alignment.analysis.evaluate import evaluate
    from alignment.models.sources import read_embeddings
    from ui.errors import explore
    from ui.errors.inputs import Chosen
    from ui.errors.load import open_dataset
    from ui.visitors import Visitor
    from ui.widgets.error_grid import ErrorGrid
    from ui.widgets.projection import ProjectionExplorer

    out: dict = {}
    rss0 = rss_mb()[0]
    start = time.perf_counter()
    source = read_embeddings(path)
    out["read_s"] = time.perf_counter() - start
    start = time.perf_counter()
    evaluation = evaluate(source.spaces)
    out["evaluate_s"] = time.perf_counter() - start
    out["errors"] = len(evaluation.errors)
    import alignment.analysis.evaluate as engine

    real, engine.evaluate = engine.evaluate, lambda *a, **k: evaluation  # open_dataset below reuses it
    try:
        start = time.perf_counter()
        explorer = open_dataset(
            models, database, Chosen(path, path.name), visitor=Visitor("bench", "bench"), templates={}
        )
        out["open_s"] = time.perf_counter() - start  # read again + evaluation reused + dataset key + first layout
    finally:
        engine.evaluate = real
    space = explorer.spaces[0]
    out["layout"] = explorer.layouts[space].method
    with gr.Blocks():
        grid, projection = ErrorGrid(near_inputs=False), ProjectionExplorer()
    start = time.perf_counter()
    grid_value = grid.show(evaluation, item=explorer.media, tagger=explorer.tagger, clusters=explorer.clusters)
    out["grid_s"] = time.perf_counter() - start
    start = time.perf_counter()
    shown = projection.show(
        explorer.points(space), embeddings=evaluation.spaces[space].embeddings, item=explorer.media, colour_by="outcome"
    )
    out["projection_s"] = time.perf_counter() - start
    out["payload_mb"] = len(shown) / 1e6
    token = json.loads(grid_value)["token"]
    start = time.perf_counter()
    grid._rows({"token": token, "start": 0, "count": 40})
    out["first_rows_s"] = time.perf_counter() - start
    start = time.perf_counter()
    explore.refine(explorer, space)
    out["refine_s"] = time.perf_counter() - start
    out["refined"] = f"{explorer.layouts[space].method}, {explorer.clusters[space].count} clusters"
    gc.collect()
    out["session_mb"] = explorer.nbytes() / 1e6
    out["rss_added_mb"] = rss_mb()[0] - rss0
    return out, evaluation


def browser_side(folder: Path, names: list[str], settings, encoders, evaluations: dict) -> list[dict]:
    """Click Evaluate on each server dataset; seconds to the first grid row, the drawn projection, UMAP + clusters."""
    import sys

    import alignment.analysis.evaluate as engine
    import app

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ui"))  # as pytest's rootdir puts it
    from explore_browser import DESKTOP, chromium, free_port

    os.environ["ALIGN_DATASETS"] = str(folder)
    real = engine.evaluate

    def reuse(spaces, **kwargs):  # the evaluation of the server-side pass, when it made one for these rows
        n = sum(len(e) for e in spaces.values())
        return evaluations[n] if n in evaluations else real(spaces, **kwargs)

    engine.evaluate = reuse
    demo = app.build_demo(settings, encoders, background=False)
    demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **app.launch_options()
    )
    out = []
    try:
        with chromium() as browser:
            for name in names:
                page = browser.new_page(viewport=DESKTOP)
                page.goto(demo.local_url)
                page.get_by_role("tab", name="Errors").click()
                page.get_by_label("Or a dataset on this server").click()
                page.get_by_role("option", name=name).click()
                start = time.perf_counter()
                page.get_by_role("button", name="Evaluate", exact=True).click()
                page.wait_for_selector('#errors-grid .eg-row[data-index="0"]', timeout=3_600_000)
                grid_s = time.perf_counter() - start
                page.wait_for_function(
                    "() => document.querySelector('#errors-projection .xp')?.dataset.drawn", timeout=600_000
                )
                drawn_s = time.perf_counter() - start
                page.wait_for_function(
                    "() => document.querySelector('#errors-layout-note')?.textContent.includes('clusters (')",
                    timeout=3_600_000,
                )
                out.append(
                    {"name": name, "grid_s": grid_s, "drawn_s": drawn_s, "refined_s": time.perf_counter() - start}
                )
                page.close()
    finally:
        engine.evaluate = real
        demo.close()
    return out


def example_memory(models, database) -> dict:
    """What one session holds for the bundled example: now (paths) and as the tab kept it before (decoded items)."""
    from alignment.analysis.prompts import TEMPLATES
    from alignment.models.sources import read_dataset
    from ui.assets import ASSETS
    from ui.errors.inputs import Chosen
    from ui.errors.load import open_dataset
    from ui.visitors import Visitor

    example = ASSETS / "paired.csv"
    explorer = open_dataset(
        models,
        database,
        Chosen(example, example.name, example=True),
        visitor=Visitor("bench", "b"),
        templates=TEMPLATES,
    )
    source = read_dataset(example, lambda modalities: (models.get(), {}), cache=models.cache)
    decoded = 0
    for item in source.items.values():
        payload = item.payload
        if hasattr(payload, "samples"):
            decoded += payload.samples.nbytes  # type: ignore[union-attr]
        elif hasattr(payload, "size") and not isinstance(payload, str):
            decoded += payload.size[0] * payload.size[1] * 3  # type: ignore[union-attr]
    return {"now_kb": explorer.nbytes() / 1e3, "decoded_media_before_kb": decoded / 1e3, "items": len(source.items)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    from alignment.models.factory import load_encoders
    from alignment.models.settings import settings_for
    from ui.errors.tags import tag_database
    from ui.models import AppModels

    root = Path(tempfile.mkdtemp(prefix="bench-errors-"))
    settings = settings_for("tiny", cache_dir=str(root / "cache"), device="cpu")
    encoders = load_encoders(settings)
    models = AppModels(settings, encoders=encoders)
    database = tag_database(root / "cache")
    print(machine_line())
    memory = example_memory(models, database)
    print(
        f"bundled example ({memory['items']} items): the session holds {memory['now_kb']:.0f} kB; the decoded media "
        f"the tab kept per session before: {memory['decoded_media_before_kb']:.0f} kB"
    )
    folder = root / "datasets"
    folder.mkdir()
    rows, evaluations = [], {}
    for n in args.sizes:
        path = planted_file(n, folder)
        print(f"[{time.strftime('%H:%M:%S')}] {n:,} rows, load {load_average()}", flush=True)
        result, evaluation = server_side(path, models, database)
        evaluations[n] = evaluation
        rows.append(
            [
                f"{n:,}",
                result["errors"],
                result["read_s"],
                result["evaluate_s"],
                result["open_s"],
                result["grid_s"],
                result["projection_s"],
                result["payload_mb"],
                result["first_rows_s"],
                result["refine_s"],
                result["refined"],
                result["session_mb"],
                result["rss_added_mb"],
            ]
        )
        print(json.dumps(result), flush=True)
    print(
        table(
            [
                "rows",
                "errors",
                "read s",
                "evaluate s",
                "open s",
                "grid value s",
                "projection value s",
                "payload MB",
                "first 40 rows s",
                "UMAP + clusters s",
                "after",
                "session MB",
                "RSS added MB",
            ],
            rows,
        )
    )
    if not args.no_browser:
        names = [f"planted-{n}.npz" for n in args.sizes]
        found = browser_side(folder, names, settings, encoders, evaluations)
        print(f"browser, load {load_average()}")
        print(
            table(
                ["dataset", "click → first grid row s", "click → projection drawn s", "click → UMAP + clusters s"],
                [[r["name"], r["grid_s"], r["drawn_s"], r["refined_s"]] for r in found],
            )
        )


if __name__ == "__main__":
    main()
