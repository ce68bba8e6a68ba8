"""The "Alignment errors" tab through its API (gradio_client), against the library called directly."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from alignment.analysis.evaluate import evaluate
from alignment.inputs.embeddings import from_arrays, save_npz
from alignment.models.encoders import Encoders
from alignment.models.sources import read_dataset
from ui.assets import ASSETS
from ui.errors.views import ERROR_COLUMNS, explain_cell

EXAMPLE = ASSETS / "paired.csv"
TEMPLATES = ("a photo of a {}.", "the sound of a {}.")
EVALUATE_OUTPUTS = (
    "summary",
    "metrics",
    "errors",
    "count",
    "direction",
    "block",
    "numbers",
    "selected",
    "chart_name",
    "chart",
)


def run_evaluate(client: Client, upload: str | None = None, on_error: str = "skip") -> dict:
    out = client.predict(handle_file(upload) if upload else None, True, on_error, *TEMPLATES, api_name="/evaluate")
    return dict(zip(EVALUATE_OUTPUTS, out, strict=True))


def rows(table: dict) -> list[dict]:
    """A gr.Dataframe output as a list of {header: value}."""
    return [dict(zip(table["headers"], row, strict=True)) for row in table["data"]]


@pytest.fixture(scope="module")
def expected(encoders: Encoders) -> dict:
    """metrics.json for the bundled paired example, computed by the library with the app's encoders."""
    source = read_dataset(EXAMPLE, lambda modalities: (encoders, {}))
    templates = {"image": (TEMPLATES[0],), "audio": (TEMPLATES[1],)}
    return evaluate(source.spaces, embed_text=source.embed_text, templates=templates).to_json()


def test_evaluate_equals_the_library(client: Client, expected: dict) -> None:
    out = run_evaluate(client)
    numbers = out["numbers"]
    assert set(numbers) == set(expected)
    for direction in ("text->image", "image->text", "text->audio", "audio->text"):
        for key, value in expected[direction].items():
            assert numbers[direction][key] == pytest.approx(value, abs=1e-6), (direction, key)
    assert numbers["zero_shot"]["image"]["confusion"] == expected["zero_shot"]["image"]["confusion"]
    table = rows(out["metrics"])
    assert [r["direction"] for r in table] == ["text->image", "image->text", "text->audio", "audio->text"]
    assert table[0]["R@1"] == pytest.approx(expected["text->image"]["R@1"], abs=1e-3)
    assert len(rows(out["errors"])) == expected["n_errors"] > 0
    assert f"{expected['n_errors']} of {expected['n_errors']} errors" in out["count"]
    assert "Random-weight models" in out["summary"]
    assert out["selected"] == str(rows(out["errors"])[0]["#"])  # the worst error opens at once


def test_every_evaluation_figure_is_served(client: Client) -> None:
    out = run_evaluate(client)
    names = [c[0] if isinstance(c, list | tuple) else c for c in out["chart_name"]["choices"]]
    assert {"Retrieval", "Ranks", "Thresholds", "Modality gap", "Hubness", "Errors"} <= set(names)
    assert "Zero-shot image" in names  # the bundled example has labels
    for name in names:
        figure = json.loads(client.predict(name, api_name="/figure")["plot"])
        assert figure["data"], f"{name} draws nothing"
    with pytest.raises(AppError, match="Nope is not in the list of choices"):  # gradio checks the Dropdown
        client.predict("Nope", api_name="/figure")


def test_filters_narrow_the_error_list(client: Client) -> None:
    everything = rows(run_evaluate(client)["errors"])
    table, count, _ = client.predict("audio->text", "", "any", "worst rank first", api_name="/errors")
    narrowed = rows(table)
    assert narrowed and {r["direction"] for r in narrowed} == {"audio->text"}
    assert len(narrowed) == sum(r["direction"] == "audio->text" for r in everything)
    assert [r["rank of truth"] for r in narrowed] == sorted((r["rank of truth"] for r in narrowed), reverse=True)
    needle = narrowed[0]["query"]
    found = rows(client.predict("all", needle, "any", "largest margin first", api_name="/errors")[0])
    assert found and all(needle in f"{r['query']} {r['truth']} {r['top wrong match']}" for r in found)
    margins = [r["margin"] for r in found]
    assert margins == sorted(margins, reverse=True)


def test_error_detail_shows_both_sides_and_neighbours(client: Client) -> None:
    first = rows(run_evaluate(client)["errors"])[0]
    detail = client.predict(str(first["#"]), api_name="/error_detail")
    head, panes, near = detail[0], detail[1:10], rows(detail[10])
    assert f"truth ranked **{first['rank of truth']}**" in head
    for markdown, role_id in zip(panes[0::3], (first["query"], first["truth"], first["top wrong match"]), strict=True):
        assert f"`{role_id}`" in markdown
    media = [p["value"] for p in panes if isinstance(p, dict) and p.get("visible") and p.get("value")]
    assert media, "an image or audio preview is shown for the media items"
    assert near[0]["item"] == first["top wrong match"]
    if first["rank of truth"] <= 10:
        assert near[first["rank of truth"] - 1]["item"] == first["truth"]
        assert near[first["rank of truth"] - 1]["true match"] == "✓"
    assert json.loads(detail[11]["plot"])["data"], "the projection is drawn"
    with pytest.raises(AppError, match="No error #'999'"):
        client.predict("999", api_name="/error_detail")


def test_tags_survive_a_reload_and_export(server: str, tiny_settings) -> None:
    first_session = Client(server, verbose=False, download_files=False)
    error = rows(run_evaluate(first_session)["errors"])[0]
    saved, table, _ = first_session.predict(
        str(error["#"]),
        "data error",
        "caption names the wrong object",
        "all",
        "",
        "any",
        "dataset order",
        api_name="/tag_error",
    )
    assert "data error" in saved
    assert {r["#"]: r["tag"] for r in rows(table)}[error["#"]] == "data error"
    with pytest.raises(AppError, match="not in the list of choices"):  # gradio checks the Radio choices
        first_session.predict(str(error["#"]), "wrong", "", "all", "", "any", "dataset order", api_name="/tag_error")

    reloaded = Client(server, verbose=False, download_files=False)  # a new page: the session state is gone
    again = rows(run_evaluate(reloaded)["errors"])
    assert {r["#"]: r["tag"] for r in again}[error["#"]] == "data error"
    tagged = rows(reloaded.predict("all", "", "data error", "dataset order", api_name="/errors")[0])
    assert [r["#"] for r in tagged] == [error["#"]]

    exported = reloaded.predict(api_name="/export_tags")
    path = Path(exported["path"] if isinstance(exported, dict) else exported)
    lines = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [(r["key"], r["tag"], r["note"]) for r in lines] == [
        (f"{error['direction']}|{error['query']}", "data error", "caption names the wrong object")
    ]
    stored = list(Path(tiny_settings.cache_dir, "tags").glob("paired-*.json"))  # what a restarted server reads
    assert len(stored) == 1 and "caption names the wrong object" in stored[0].read_text()


def test_precomputed_embeddings_need_no_model(client: Client, tmp_path) -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(8, 16))
    vectors = np.concatenate([base, base + 0.01 * rng.normal(size=(8, 16))])
    vectors[[8, 9]] = vectors[[9, 8]]  # swap two images: exactly two errors each way
    ids = [f"t{i}" for i in range(8)] + [f"i{i}" for i in range(8)]
    embedded = from_arrays(ids, ["text"] * 8 + ["image"] * 8, [f"p{i}" for i in range(8)] * 2, vectors)
    path = save_npz(tmp_path / "planted.npz", embedded)
    out = run_evaluate(client, str(path))
    assert out["numbers"]["text->image"]["R@1"] == pytest.approx(6 / 8)
    assert sorted(r["query"] for r in rows(out["errors"]) if r["direction"] == "text->image") == ["t0", "t1"]


def test_bad_uploads_are_named_and_the_server_goes_on(client: Client, tmp_path) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_text("id,modality,content,pair\nx,video,clip.mp4,p1\n")
    with pytest.raises(AppError, match="unknown modality 'video'"):
        run_evaluate(client, str(bad), on_error="stop")
    with pytest.raises(AppError, match="Evaluate a dataset first"):
        client.predict("0", api_name="/error_detail")
    assert run_evaluate(client)["numbers"]["n_errors"] > 0


def test_explain_error_sends_the_pair_to_the_explain_tab(client: Client) -> None:
    errors = rows(run_evaluate(client)["errors"])
    text_image = next(r for r in errors if r["direction"] == "text->image")
    image_text, image, audio_text, audio, tower = client.predict(str(text_image["#"]), api_name="/explain_error")
    assert tower == "image (CLIP vision)"  # the attention viewer follows the pair's media
    caption = next(line for line in EXAMPLE.read_text().splitlines() if line.startswith(f"{text_image['query']},"))
    assert image_text == caption.split(",")[2]  # the query's caption text
    assert Path(image["path"] if isinstance(image, dict) else image).suffix == ".png"
    audio_error = next(r for r in errors if r["direction"] == "audio->text")
    _, _, audio_text, audio, tower = client.predict(str(audio_error["#"]), api_name="/explain_error")
    assert tower == "text (CLAP)"  # HTSAT has no token attention map: the viewer shows the CLAP text tower
    truth = next(line for line in EXAMPLE.read_text().splitlines() if line.startswith(f"{audio_error['truth']},"))
    assert audio_text == truth.split(",")[2]
    assert Path(audio["path"] if isinstance(audio, dict) else audio).suffix == ".wav"


def test_only_the_explain_cell_of_a_row_sends_its_pair() -> None:
    table = pd.DataFrame([[7, "explain →", "text->image"] + [None] * (len(ERROR_COLUMNS) - 3)], columns=ERROR_COLUMNS)
    column = ERROR_COLUMNS.index("explain")
    assert explain_cell(table, gr.SelectData(None, {"index": [0, column], "value": "explain →"})) == "7"
    row = table.iloc[0].tolist()
    data = {"index": [0, column], "value": "explain →", "row_value": row}
    assert explain_cell(table, gr.SelectData(None, data)) == "7"
    assert explain_cell(table, gr.SelectData(None, {"index": [0, 3], "value": "q"})) is None  # opens the error only
