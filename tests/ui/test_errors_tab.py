"""The "Errors" tab through its API (gradio_client), against the library called directly: evaluation, the /errors
list, an error's detail, tags per visitor (SQLite) with export and import, uploads of embeddings and of zipped
parquet shards, hostile ids, and the hand-off to Explain."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from alignment.analysis.evaluate import evaluate
from alignment.core.hygiene import escape_markdown
from alignment.inputs import shards
from alignment.inputs.embeddings import from_arrays, save_npz
from alignment.models.encoders import Encoders
from alignment.models.settings import Settings
from alignment.models.sources import read_dataset
from ui.assets import ASSETS

EXAMPLE = ASSETS / "paired.csv"
TEMPLATES = ("a photo of a {}.", "the sound of a {}.")
EVALUATE_OUTPUTS = (
    "summary",
    "hubness",
    "metrics",
    "chart_name",
    "chart",
    "numbers",
    "space",
    "layout",
    "projection",
    "clusters",
    "grid",
)
HOSTILE = "<img src=x onerror=alert(1)>"


def run_evaluate(client: Client, upload: str | None = None, on_error: str = "skip", hubness: str = "none") -> dict:
    file = handle_file(upload) if upload else None
    out = client.predict(file, True, on_error, *TEMPLATES, "", hubness, api_name="/evaluate")
    return dict(zip(EVALUATE_OUTPUTS, out, strict=True))


def rows(table: dict) -> list[dict]:
    """A gr.Dataframe output as a list of {header: value}."""
    return [dict(zip(table["headers"], row, strict=True)) for row in table["data"]]


def listed(client: Client, direction: str = "all", search: str = "", tag: str = "any", sort: str = "dataset order"):
    table, count = client.predict(direction, search, tag, sort, api_name="/errors")
    return rows(table), count


@pytest.fixture(scope="module")
def expected(encoders: Encoders) -> dict:
    """metrics.json for the bundled paired example, computed by the library with the app's encoders."""
    source = read_dataset(EXAMPLE, lambda modalities: (encoders, {}))
    templates = {"image": (TEMPLATES[0],), "audio": (TEMPLATES[1],)}
    return evaluate(source.spaces, embed_text=source.embed_text, templates=templates).to_json()


def test_evaluate_equals_the_library_and_says_what_it_means(client: Client, expected: dict) -> None:
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
    summary = out["summary"]
    assert "Random-weight models" in summary
    for name in ("**R@1**", "**MRR**", "**Modality gap**", "**Hubness**"):  # one plain-language line each
        line = next(line for line in summary.splitlines() if line.startswith(f"- {name}"))
        assert "*What this means:*" in line
    assert json.loads(out["grid"])["facets"]["total"] == expected["n_errors"] > 0
    assert json.loads(out["projection"])["n"] == 18  # the clip space: 12 captions and 6 photos, drawn at once
    assert out["space"]["choices"] == [["clip", "clip"], ["clap", "clap"]]
    everything, count = listed(client)
    assert len(everything) == expected["n_errors"] and f"{expected['n_errors']} of {expected['n_errors']}" in count


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


def test_the_errors_endpoint_filters_and_sorts(client: Client) -> None:
    run_evaluate(client)
    everything, _ = listed(client)
    narrowed, _ = listed(client, "audio->text", sort="worst rank first")
    assert narrowed and {r["direction"] for r in narrowed} == {"audio->text"}
    assert len(narrowed) == sum(r["direction"] == "audio->text" for r in everything)
    assert [r["rank of truth"] for r in narrowed] == sorted((r["rank of truth"] for r in narrowed), reverse=True)
    needle = narrowed[0]["query"]
    found, _ = listed(client, search=needle, sort="largest margin first")
    assert found and all(needle in f"{r['query']} {r['truth']} {r['top wrong match']}" for r in found)
    margins = [r["margin"] for r in found]
    assert margins == sorted(margins, reverse=True)


def test_error_detail_shows_both_sides_and_neighbours(client: Client) -> None:
    run_evaluate(client)
    first = max(listed(client)[0], key=lambda r: r["margin"])
    detail = client.predict(str(first["#"]), api_name="/error_detail")
    head, panes, near = detail[0], detail[1:10], rows(detail[10])
    assert f"truth ranked **{first['rank of truth']}**" in head
    for markdown, role_id in zip(panes[0::3], (first["query"], first["truth"], first["top wrong match"]), strict=True):
        assert escape_markdown(role_id) in markdown
    media = [p["value"] for p in panes if isinstance(p, dict) and p.get("visible") and p.get("value")]
    assert media, "an image or audio preview is shown for the media items (decoded from its file on demand)"
    assert near[0]["item"] == first["top wrong match"]
    if first["rank of truth"] <= 10:
        assert near[first["rank of truth"] - 1]["item"] == first["truth"]
        assert near[first["rank of truth"] - 1]["true match"] == "✓"
    assert json.loads(detail[11]["plot"])["data"], "where the error sits is drawn"
    with pytest.raises(AppError, match="No error #'999'"):
        client.predict("999", api_name="/error_detail")


def test_tags_are_per_visitor_and_travel_by_export_and_import(server: str, tiny_settings: Settings, tmp_path) -> None:
    alice = Client(server, verbose=False, download_files=False)
    run_evaluate(alice)
    error = listed(alice)[0][0]
    saved, _ = alice.predict(str(error["#"]), "data error", "caption names the wrong object", api_name="/tag_error")
    assert "data error" in saved
    second = listed(alice)[0][1]
    alice.predict(str(second["#"]), "needs recaption", "", api_name="/tag_error")  # a custom tag
    with pytest.raises(AppError, match="custom tag"):
        alice.predict(str(second["#"]), "=HYPERLINK(1)", "", api_name="/tag_error")
    run_evaluate(alice)  # the same visitor evaluates again: the tags come from the database
    tagged = listed(alice, tag="data error")[0]
    assert [r["#"] for r in tagged] == [error["#"]]
    assert listed(alice, tag="needs recaption")[0][0]["#"] == second["#"]
    detail = alice.predict(str(error["#"]), api_name="/error_detail")
    assert tuple(detail[-2:]) == ("data error", "caption names the wrong object")

    bob = Client(server, verbose=False, download_files=False)  # another visitor: sees none of alice's tags
    run_evaluate(bob)
    assert listed(bob, tag="untagged")[1].startswith(f"{len(listed(bob)[0])} of")

    exported = alice.predict(api_name="/export_tags")
    path = Path(exported["value"]["path"] if "value" in exported else exported["path"])
    assert "alignment-tags" in path.parts  # under gradio's own folder: served whatever the data directory is
    lines = list(csv.DictReader(io.StringIO(path.read_text())))
    assert {(r["key"], r["tag"], r["note"]) for r in lines} == {
        (f"{error['direction']}|{error['query']}", "data error", "caption names the wrong object"),
        (f"{second['direction']}|{second['query']}", "needs recaption", ""),
    }
    message, _ = bob.predict(handle_file(str(path)), api_name="/import_tags")
    assert "Imported **2** tag(s)" in message
    assert [r["#"] for r in listed(bob, tag="data error")[0]] == [error["#"]]

    database = Path(tiny_settings.cache_dir, "data", "tags.sqlite3")  # $ALIGN_DATA unset: data beside the cache
    with sqlite3.connect(database) as db:
        owners = db.execute("SELECT COUNT(DISTINCT owner) FROM tags WHERE tag = 'data error'").fetchone()[0]
    assert owners >= 2  # one row set per visitor (owners stored hashed)

    bad = tmp_path / "not-tags.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(AppError, match="needs the columns key and tag"):
        bob.predict(handle_file(str(bad)), api_name="/import_tags")


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
    assert sorted(r["query"] for r in listed(client, "text->image")[0]) == ["t0", "t1"]
    assert out["space"]["visible"] is False  # one space: no space to choose
    detail = client.predict("0", api_name="/error_detail")
    assert "precomputed embedding: no content to show" in detail[1]


def test_a_hubness_correction_is_shown_before_and_after_as_the_library_measures_it(client: Client, tmp_path) -> None:
    from alignment.models.sources import read_embeddings

    rng = np.random.default_rng(0)  # 60 captions sharing a direction h, 4 images leaning towards it: hubs
    h = rng.normal(size=16)
    base = rng.normal(size=(60, 16))
    hub = np.zeros(60)
    hub[[3, 17, 29, 44]] = 0.8
    texts, images = base + 0.7 * h, base + 1.5 * rng.normal(size=(60, 16)) + hub[:, None] * h
    ids = [f"t{i}" for i in range(60)] + [f"<b>i{i}</b>" for i in range(60)]  # hostile ids stay text
    embedded = from_arrays(
        ids, ["text"] * 60 + ["image"] * 60, [f"p{i}" for i in range(60)] * 2, np.vstack([texts, images])
    )
    path = save_npz(tmp_path / "hubs.npz", embedded)
    want = evaluate(read_embeddings(path).spaces, hubness="csls").to_json()["hubness_correction"]
    out = run_evaluate(client, str(path), hubness="CSLS")
    got = out["numbers"]["hubness_correction"]
    assert got["method"] == "csls"
    for direction in ("text->image", "image->text"):
        for when in ("before", "after"):
            for key, value in want["directions"][direction][when].items():
                assert got["directions"][direction][when][key] == pytest.approx(value, abs=1e-6)
        assert got["directions"][direction]["n_fixed"] == want["directions"][direction]["n_fixed"]
    fixed = want["directions"]["text->image"]["n_fixed"]
    assert fixed > 0  # the planted hubs took top places the correction gives back
    shown = out["hubness"]
    assert "Hubness correction: CSLS" in shown and "What this means" in shown
    assert f"text-&gt;image: {fixed:,} error{'s' if fixed != 1 else ''} fixed" in shown
    assert "<b>i" not in shown and "&lt;b&gt;i" in shown
    assert shown.count('<div class="change">') >= min(fixed, 8)

    # QB-Norm needs a bank of queries; precomputed embeddings have no text tower to embed one: said per direction.
    qb = run_evaluate(client, str(path), hubness="QB-Norm")
    assert all("skipped" in d for d in qb["numbers"]["hubness_correction"]["directions"].values())
    assert "Hubness correction: QB-Norm" in qb["hubness"] and 'colspan="5"' in qb["hubness"]
    assert run_evaluate(client, str(path))["hubness"] == ""  # no correction asked: no section

    # A dataset with text towers: QB-Norm's bank is the bundled caption corpus, embedded through the shared cache.
    example = run_evaluate(client, hubness="QB-Norm")["numbers"]["hubness_correction"]
    assert example["method"] == "qbnorm"
    assert all("skipped" not in example["directions"][d] for d in ("text->image", "text->audio"))
    with pytest.raises(AppError, match="magic"):  # gradio's own check of the choices
        run_evaluate(client, str(path), hubness="magic")


def test_a_zip_of_parquet_shards_is_read_as_embeddings(client: Client, tmp_path) -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=(10, 8))
    vectors = np.concatenate([base, base + 0.01 * rng.normal(size=(10, 8))]).astype(np.float32)
    vectors[[10, 11]] = vectors[[11, 10]]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    columns = {
        "row": list(range(20)),
        "id": [f"cap{i}" for i in range(10)] + [f"img{i}.jpg" for i in range(10)],
        "modality": ["text"] * 10 + ["image"] * 10,
        "pair": [f"p{i}" for i in range(10)] * 2,
        "label": [None] * 20,
        "source": [f"media/{i}" for i in range(20)],
        "sha256": [f"{i:064x}" for i in range(20)],
        "error": [None] * 20,
    }
    meta = shards.ShardMeta("clip", "some/other-model", "rev", "1", "fp32", "float32", 8)
    folder = tmp_path / "out" / "clip"
    shards.write_shard(folder / "part-00000.parquet", shards.shard_table(columns, vectors, meta))
    archive = tmp_path / "coco-shards.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(folder / "part-00000.parquet", "out/clip/part-00000.parquet")
    out = run_evaluate(client, str(archive))
    assert out["numbers"]["text->image"]["R@1"] == pytest.approx(8 / 10)
    assert "coco\\-shards\\.zip" in out["summary"]  # named as uploaded, escaped
    assert json.loads(out["projection"])["space"] == "clip"


def test_hostile_ids_and_file_names_are_shown_as_text(client: Client, tmp_path) -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(size=(6, 8))
    vectors = np.concatenate([base, base + 0.01 * rng.normal(size=(6, 8))])
    vectors[[6, 7]] = vectors[[7, 6]]
    ids = [f"{HOSTILE} `t{i}`" for i in range(6)] + [f"[i{i}](http://x) *{i}*" for i in range(6)]
    embedded = from_arrays(ids, ["text"] * 6 + ["image"] * 6, [f"p{i}" for i in range(6)] * 2, vectors)
    path = save_npz(tmp_path / "www.example.com.npz", embedded)
    out = run_evaluate(client, str(path))
    summary = out["summary"]
    assert "<img" not in summary and "www\\.example\\.com\\.npz" in summary  # no tag, no autolinked file name
    error = listed(client, "text->image")[0][0]
    detail = client.predict(str(error["#"]), api_name="/error_detail")
    text = " ".join(str(part) for part in detail[:10])
    assert "<img" not in text and "](http" not in text and "`t" not in text.replace("\\`t", "")
    assert escape_markdown(error["query"]) in detail[1] and "&lt;img src" in detail[1]


def test_bad_uploads_are_named_and_the_server_goes_on(client: Client, tmp_path) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_text("id,modality,content,pair\nx,video,clip.mp4,p1\n")
    with pytest.raises(AppError, match="unknown modality 'video'"):
        run_evaluate(client, str(bad), on_error="stop")
    with pytest.raises(AppError, match="Evaluate a dataset first"):
        client.predict("0", api_name="/error_detail")
    with pytest.raises(AppError, match="Evaluate a dataset first"):
        client.predict(api_name="/export_tags")
    assert run_evaluate(client)["numbers"]["n_errors"] > 0


def test_explain_error_sends_the_pair_to_the_explain_tab(client: Client) -> None:
    run_evaluate(client)
    errors = listed(client)[0]
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
