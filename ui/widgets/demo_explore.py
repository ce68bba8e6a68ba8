"""A demo page for the explore widgets: the projection, the cluster table and the error grid on one dataset.

    .venv/bin/python -m ui.widgets.demo_explore                 # 600 planted pairs, real media (demo_data.py)
    .venv/bin/python -m ui.widgets.demo_explore --points 100000 # the scale check: 100k points, no evaluation

It shows how a tab wires them: a lasso in the projection or a click in the cluster table narrows the grid to those
errors, clicks and Enter open an item (here: a line naming it), and both widgets tag through one tag store.
"""

from __future__ import annotations

import argparse
import html
import os
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import gradio as gr
import pandas as pd

from alignment.analysis.clusters import CLUSTER_ON, ClusterParams, cached_clusters
from alignment.views.cluster_table import CLUSTER_COLUMNS, cluster_frame, cluster_rows, stats_for
from alignment.views.points import point_set
from ui.widgets.demo_data import demo_set, scale_points
from ui.widgets.error_grid import ErrorGrid
from ui.widgets.islands import MemoryTagger, Tagger
from ui.widgets.projection import ProjectionExplorer

INTRO = """### Explore: projection, clusters, error grid
A planted space (texts, photos and field recordings; the media and captions are real files, the vectors are
planted so that the answer is known: birds / garden and paper / machines are hard to tell apart, and some captions
belong to another item). Hover a point to see it, click to open it, lasso a region to see its metrics, tag it or
export it; the grid below then lists that region's errors. Click a row of the cluster table to list its errors."""


@lru_cache(maxsize=4)
def planted(n_pairs: int, method: str, hostile: bool):
    return demo_set(n_pairs, method=method, hostile=hostile)


def build_demo(
    *,
    n_pairs: int = 600,
    method: str = "pca",
    hostile: bool = False,
    new_tagger: Callable[[], Tagger] = MemoryTagger,
    cache_dir: str | Path | None = None,
) -> gr.Blocks:
    """The demo page. `new_tagger` makes the tag store of each build (tests pass one they can read)."""
    clusters_dir = Path(cache_dir or os.environ.get("ALIGN_CACHE") or tempfile.gettempdir()) / "explore-clusters"

    with gr.Blocks(title="Explore demo") as demo:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True):
            pairs = gr.Number(n_pairs, label="Pairs", precision=0, minimum=10, maximum=20_000, scale=1)
            on = gr.Radio(list(CLUSTER_ON), value="all", label="Cluster on", scale=2)
            size = gr.Slider(5, 100, value=15, step=1, label="Smallest cluster", scale=2)
            build = gr.Button("Build", variant="primary", scale=1)
        explorer = ProjectionExplorer(elem_id="projection", height=560)
        opened = gr.HTML("<p>Click a point, or press Enter on a row of the grid, to open it.</p>", elem_id="opened")
        clusters = gr.Dataframe(
            headers=CLUSTER_COLUMNS,
            label="Where the model fails: clusters, worst error rate first (click a row to list its errors)",
            interactive=False,
            max_height=300,
            elem_id="clusters",
        )
        grid = ErrorGrid(elem_id="error-grid", height=560)
        state = gr.State()

        def load(n: float, cluster_on: str, smallest: float) -> tuple:
            data = planted(int(n), method, hostile)
            e = data.embedded
            params = ClusterParams(on=cluster_on, min_cluster_size=int(smallest))  # type: ignore[arg-type]
            found = cached_clusters(
                e.embeddings, e.modality, e.pair, data.captions, params=params, cache_dir=clusters_dir
            )
            points = point_set(data.evaluation, "shared", data.coords, clusters=found, method=data.method)
            tagger = new_tagger()
            shown = explorer.show(points, embeddings=e.embeddings, item=data.item, tagger=tagger, colour_by="outcome")
            listed = grid.show(
                data.evaluation, item=data.item, tagger=tagger, clusters={"shared": found}, embed_query=data.embed_query
            )
            return shown, cluster_frame(stats_for(points)), listed, (data, points)

        def opened_point(evt: gr.EventData) -> str:
            points, row = explorer.opened(evt)
            return _opened(f"{points.modality[row]} {points.ids[row]}", f"pair {points.pair[row]}")

        def opened_error(evt: gr.EventData) -> str:
            table, e = grid.opened(evt)
            return _opened(f"error {e}: {table.query[e]}", f"truth {table.truth[e]}, top wrong match {table.top[e]}")

        def lasso(value: str, evt: gr.EventData) -> str:
            _, rows, keys = explorer.selected(evt)
            return grid.scoped(value, keys, label=f"the errors of the {len(rows)} selected points")

        def cluster_errors(value: str, loaded: tuple | None, table: pd.DataFrame, evt: gr.SelectData) -> str:
            if loaded is None:
                raise gr.Error("Build the dataset first.")
            _, points = loaded
            cluster = int(table.iloc[evt.index[0]]["cluster"])
            assert points.clusters is not None
            rows = cluster_rows(points.clusters, cluster)
            keys = [k for r in rows for k in points.error_keys[r]]
            return grid.scoped(value, keys, label=f"cluster {points.clusters.name(cluster)}")

        outputs = [explorer.html, clusters, grid.html, state]
        demo.load(load, [pairs, on, size], outputs, api_visibility="private")
        build.click(load, [pairs, on, size], outputs, api_visibility="private")
        explorer.html.open(opened_point, None, opened, api_visibility="private")  # type: ignore[attr-defined]
        grid.html.open(opened_error, None, opened, api_visibility="private")  # type: ignore[attr-defined]
        explorer.html.selection(lasso, [grid.html], grid.html, api_visibility="private")  # type: ignore[attr-defined]
        clusters.select(cluster_errors, [grid.html, state, clusters], grid.html, api_visibility="private")
    return demo


def build_scale_demo(n_points: int) -> gr.Blocks:
    """The projection alone at `n_points` (no evaluation): what the 100k check draws."""
    with gr.Blocks(title="Explore demo: scale") as demo:
        gr.Markdown(f"### Scale check: {n_points:,} points (planted, not evaluated)")
        explorer = ProjectionExplorer(elem_id="projection", height=640)
        opened = gr.HTML(elem_id="opened")

        def load() -> str:
            points, vectors, items = scale_points(n_points)
            return explorer.show(points, embeddings=vectors, item=lambda m, i: items.get((m, i)))

        def opened_point(evt: gr.EventData) -> str:
            points, row = explorer.opened(evt)
            return _opened(f"{points.modality[row]} {points.ids[row]}", f"pair {points.pair[row]}")

        demo.load(load, None, explorer.html, api_visibility="private")
        explorer.html.open(opened_point, None, opened, api_visibility="private")  # type: ignore[attr-defined]
    return demo


def _opened(what: str, detail: str) -> str:
    return f'<p class="opened">Opened <strong>{html.escape(what)}</strong> · {html.escape(detail)}</p>'


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=600, help="planted pairs (each a caption and a photo or clip)")
    parser.add_argument("--points", type=int, default=0, help="draw N unevaluated points instead (the scale check)")
    parser.add_argument("--umap", action="store_true", help="UMAP instead of PCA (the planted spots become dots)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args(argv)
    demo = (
        build_scale_demo(args.points)
        if args.points
        else build_demo(n_pairs=args.pairs, method="auto" if args.umap else "pca")
    )
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), server_port=args.port)


if __name__ == "__main__":
    main()
