"""The app through its public API: a launched `demo` (tiny preset) driven by `gradio_client`, every endpoint."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from matrix_html import read_matrix

from alignment.analysis.compare import compare
from alignment.models.encoders import Encoders
from alignment.views.projection import MIN_UMAP_POINTS
from ui.assets import bundled_examples
from ui.compare.views import MATCH_COLUMNS

# Every api_name the app exposes, with the test that covers it. A new endpoint fails
# `test_every_endpoint_is_covered` until it is added here and tested below.
ENDPOINTS = {
    "/compare": "test_compare_equals_the_library",
    "/heatmaps": "test_heatmaps_follow_the_session",
    "/evaluate": "test_errors_tab.test_evaluate_equals_the_library_and_says_what_it_means",
    "/errors": "test_errors_tab.test_the_errors_endpoint_filters_and_sorts",
    "/error_detail": "test_errors_tab.test_error_detail_shows_both_sides_and_neighbours",
    "/tag_error": "test_errors_tab.test_tags_are_per_visitor_and_travel_by_export_and_import",
    "/export_tags": "test_errors_tab.test_tags_are_per_visitor_and_travel_by_export_and_import",
    "/import_tags": "test_errors_tab.test_tags_are_per_visitor_and_travel_by_export_and_import",
    "/figure": "test_errors_tab.test_every_evaluation_figure_is_served",
    "/one_space": "test_one_space_equals_the_bridge_applied_by_the_library",
    "/explain_image": "test_explain_tab.test_image_explanation_equals_the_library",
    "/explain_audio": "test_explain_tab.test_audio_explanation_equals_the_library",
    "/explain_error": "test_errors_tab.test_explain_error_sends_the_pair_to_the_explain_tab",
    "/attention": "test_explain_tab.test_attention_maps_equal_the_library",
    "/attention_view": "test_explain_tab.test_attention_view_redraws_any_layer_and_head",
    "/fusion": "test_fusion_tab.test_fusion_tab_equals_the_library_and_fusion_beats_each_modality",
    "/search": "test_search_tab.test_search_equals_the_library",
}
EXAMPLES = bundled_examples()
OUTPUTS = ("heat_image", "heat_audio", "matches", "projection", "report", "gallery", "numbers")  # compare's API outputs


def run_compare(client: Client, example: dict, kind: str = "cosine") -> list[dict]:
    """Every yield of /compare for a bundled example, as named output dicts (the generator yields PCA, then UMAP)."""
    job = client.submit(
        "\n".join(example["texts"]),
        None,
        [handle_file(p) for p in example["images"]],
        [handle_file(p) for p in example["audio"]],
        kind,
        api_name="/compare",
    )
    job.result(timeout=180)  # raises the app's error, if any
    return [dict(zip(OUTPUTS, out, strict=True)) for out in job.outputs()]


def shown(yields: list[dict], name: str) -> object:
    """What the page shows for one output after every yield: its last value that was not a skip (an unchanged
    output is not sent again)."""
    values = [y[name] for y in yields if not (isinstance(y[name], dict) and y[name].get("__type__") == "update")]
    assert values, f"{name} was never sent"
    return values[-1]


def island(value: object) -> dict:
    """The projection component's value: JSON text with a view token, the points and one colouring."""
    assert isinstance(value, str)
    data = json.loads(value)
    assert data.get("token"), data.get("message")
    return data


def xy(data: dict) -> np.ndarray:
    """The (n, 2) coordinates the projection component draws (float32, base64)."""
    return np.frombuffer(base64.b64decode(data["xy"]), "<f4").reshape(-1, 2)


def panel_method(numbers: dict, space: str) -> str:
    return numbers["projection"][space]["method"]


# ---------------------------------------------------------------------------- the endpoints


def test_every_endpoint_is_covered(client: Client) -> None:
    api = client.view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == set(ENDPOINTS), "an endpoint was added or removed: test it, update ENDPOINTS"
    assert api["unnamed_endpoints"] == {}
    compare_params = [p["parameter_name"] for p in api["named_endpoints"]["/compare"]["parameters"]]
    assert compare_params == ["text", "text_file", "images", "audio", "kind", "space"]
    assert len(api["named_endpoints"]["/compare"]["returns"]) == len(OUTPUTS)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["name"] for e in EXAMPLES])
def test_compare_equals_the_library(client: Client, encoders: Encoders, example: dict) -> None:
    yields = run_compare(client, example)
    got = yields[-1]["numbers"]
    want = compare(encoders, example["texts"], example["images"], example["audio"]).to_json()

    assert got["ids"] == want["ids"]
    assert got["ids"]["image"] == [Path(p).name for p in example["images"]]
    assert got["problems"] == want["problems"] == []
    for key in ("text_image", "text_audio"):
        assert got[key]["rows"] == want[key]["rows"] and got[key]["cols"] == want[key]["cols"]
        for score in ("cosine", "probability"):
            np.testing.assert_allclose(got[key][score], want[key][score], atol=1e-5, rtol=0, err_msg=f"{key} {score}")
        assert got[key]["logit_scale"] == pytest.approx(want[key]["logit_scale"], abs=1e-5)
    pairs = [(m["query"], m["best"]) for m in got["best_matches"]]
    assert pairs == [(m["query"], m["best"]) for m in want["best_matches"]]

    # The first yield is the quick PCA view, the last one UMAP where there are enough points; a projection already
    # known (the prepared bundled example, a repeated comparison) comes in a single yield.
    if len(yields) > 1:
        assert {p["method"] for p in yields[0]["numbers"]["projection"].values()} == {"pca"}
    for name, others in (("clip", "images"), ("clap", "audio")):
        panel = got["projection"][name]
        n = len(example["texts"]) + len(example[others])
        assert panel["method"] == ("umap" if n >= MIN_UMAP_POINTS else "pca")
        assert np.asarray(panel["coords"]).shape == (n, 2) and np.isfinite(panel["coords"]).all()

    # The views show those numbers: matrix cells, labels, the table, the gallery.
    for out, key in (("heat_image", "text_image"), ("heat_audio", "text_audio")):
        matrix = read_matrix(shown(yields, out))
        np.testing.assert_allclose(matrix.values, got[key]["cosine"], atol=1e-5)
        assert matrix.cols == got[key]["cols"] and matrix.rows == got[key]["rows"]
        assert "Click a cell" in matrix.hint
    matches = shown(yields, "matches")
    assert matches["headers"] == MATCH_COLUMNS  # type: ignore[index]
    assert len(matches["data"]) == len(got["best_matches"])  # type: ignore[index]
    assert [g["caption"] for g in yields[0]["gallery"]] == got["ids"]["image"]  # sent once, with the first yield
    drawn = island(shown(yields, "projection"))  # the CLIP space, chosen by default
    assert (drawn["space"], drawn["n"], drawn["method"]) == (
        "clip",
        len(got["projection"]["clip"]["ids"]),
        panel_method(got, "clip"),
    )
    np.testing.assert_allclose(xy(drawn), got["projection"]["clip"]["coords"], atol=1e-5)
    known = all(Path(p).name in {Path(k).name for k in example.get("pairs", {})} for p in example["images"])
    assert drawn["colour"]["by"] == ("outcome" if known and example["images"] else "modality")
    assert "computed" in shown(yields, "report")  # type: ignore[operator]


def test_heatmaps_follow_the_session(client: Client) -> None:
    # Before any comparison in this session: placeholders that say what to do, no cells.
    for html in client.predict("probability", api_name="/heatmaps"):
        shown = read_matrix(html)
        assert shown.values.size == 0 and "Run a comparison" in shown.hint

    result = run_compare(client, EXAMPLES[-1])[-1]["numbers"]
    probability = client.predict("probability", api_name="/heatmaps")
    for html, key in zip(probability, ("text_image", "text_audio"), strict=True):
        z = read_matrix(html).values  # (texts, items)
        assert z.shape == (len(result[key]["rows"]), len(result[key]["cols"]))
        assert ((z >= 0) & (z <= 1)).all()
        np.testing.assert_allclose(z.sum(axis=0), 1.0, atol=1e-4)  # a distribution over the texts per column
        np.testing.assert_allclose(z, result[key]["probability"], atol=1e-5)
        assert "P(text | item)" in html

    cosine = client.predict("cosine", api_name="/heatmaps")
    for html, key in zip(cosine, ("text_image", "text_audio"), strict=True):
        z = read_matrix(html).values
        assert (np.abs(z) <= 1 + 1e-5).all()
        np.testing.assert_allclose(z, result[key]["cosine"], atol=1e-5)


# ---------------------------------------------------------------------------- bad input


def bad_text_file(tmp_path: Path) -> tuple:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 au lait\n".encode("latin-1") + b"\xff\xfe\x80")
    return "", handle_file(str(path)), [], [], "cosine"


def wrong_extension(tmp_path: Path) -> tuple:
    path = tmp_path / "captions.exe"
    path.write_text("a cat\n")
    return "", handle_file(str(path)), [], [], "cosine"


def too_long_only(tmp_path: Path) -> tuple:
    return "x" * 100_000, None, [], [], "cosine"


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (bad_text_file, r"latin1\.txt.*not UTF-8"),
        (lambda tmp_path: ("", None, [], [], "cosine"), r"nothing to compare"),
        (lambda tmp_path: (" \n \n", None, None, None, "cosine"), r"nothing to compare"),
        (too_long_only, r"over the limit of \d+"),
        (wrong_extension, r"[Ii]nvalid file type"),
    ],
    ids=["text-file-not-utf8", "nothing", "blank-lines", "text-too-long", "text-file-wrong-type"],
)
def test_bad_compare_input_is_a_clear_error(client: Client, tmp_path: Path, make_args, message: str) -> None:
    with pytest.raises(AppError, match=message):
        client.predict(*make_args(tmp_path), api_name="/compare")
    assert_server_still_works(client)


def test_unknown_score_kind_is_a_clear_error(client: Client) -> None:
    with pytest.raises(AppError, match=r"bogus.*cosine.*probability"):
        client.predict("bogus", api_name="/heatmaps")
    assert_server_still_works(client)


def test_unreadable_files_are_skipped_and_named(client: Client, tmp_path: Path) -> None:
    """One bad file among good ones: the rest is compared, the bad one named in `problems` and the report."""
    not_image = tmp_path / "broken.png"
    not_image.write_bytes(b"this is not a PNG" * 8)
    not_audio = tmp_path / "broken.wav"
    not_audio.write_bytes(b"RIFF and then nothing useful" * 8)
    cat = EXAMPLES[-1]["images"][0]
    job = client.submit(
        "a cat\na dog",
        None,
        [handle_file(str(not_image)), handle_file(cat)],
        [handle_file(str(not_audio))],
        "cosine",
        api_name="/compare",
    )
    job.result(timeout=180)
    yields = [dict(zip(OUTPUTS, o, strict=True)) for o in job.outputs()]
    numbers = yields[-1]["numbers"]
    assert numbers["ids"] == {"text": ["a cat", "a dog"], "image": [Path(cat).name], "audio": []}
    assert [p.split(":")[0] for p in numbers["problems"]] == ["broken.png", "broken.wav"]
    report = str(shown(yields, "report")).replace("\\", "")  # the Markdown escapes what a stranger named a file
    assert "broken.png" in report and "broken.wav" in report
    assert [g["caption"] for g in yields[0]["gallery"]] == [Path(cat).name]  # no gap, no shifted captions


def assert_server_still_works(client: Client) -> None:
    """A good request right after a bad one is served normally."""
    cat = EXAMPLES[-1]["images"][0]
    out = dict(
        zip(OUTPUTS, client.predict("a cat", None, [handle_file(cat)], [], "cosine", api_name="/compare"), strict=True)
    )
    assert out["numbers"]["ids"]["image"] == [Path(cat).name]
    assert np.asarray(out["numbers"]["text_image"]["cosine"]).shape == (1, 1)


def test_one_space_equals_the_bridge_applied_by_the_library(client: Client, encoders: Encoders, tiny_settings) -> None:
    from alignment.models.cache import EmbeddingCache
    from alignment.space.shared import shared_space
    from ui.compare.one_space import CORPUS, CPU_CAPTIONS

    with pytest.raises(AppError, match="Run a comparison first"):
        client.predict(None, api_name="/one_space")
    example = EXAMPLES[0]
    run_compare(client, example)
    info, image_audio, full, joint, numbers = client.predict(None, api_name="/one_space")
    assert "bridge CLAP→CLIP" in info and "held-out caption R@1" in info

    root = Path(tiny_settings.cache_dir)
    space = shared_space(
        encoders, CORPUS, root=root, cache=EmbeddingCache(root / "embeddings"), max_captions=CPU_CAPTIONS
    )
    assert space.loaded, "the app fitted and cached the bridge; the library must find the same file"
    direct = compare(encoders, example["texts"], example["images"], example["audio"])
    expected = direct.clip_image @ space.to_clip(direct.clap_audio).T  # (I, A)
    assert numbers["image_audio"]["rows"] == [Path(p).name for p in example["images"]]
    assert numbers["image_audio"]["cols"] == [Path(p).name for p in example["audio"]]
    assert np.allclose(numbers["image_audio"]["cosine"], expected, atol=1e-5)
    n = len(example["texts"]) + len(example["images"]) + len(example["audio"])
    assert np.asarray(numbers["full"]).shape == (n, n)
    assert np.allclose(np.diag(numbers["full"]), 1.0, atol=1e-5)
    drawn = island(joint)
    assert (drawn["space"], drawn["n"]) == ("one", n)
    assert set(numbers["projection"]["modalities"]) == {"text", "image", "audio"}, "all three in one projection"
    np.testing.assert_allclose(xy(drawn), numbers["projection"]["coords"], atol=1e-5)


def test_one_space_takes_the_users_corpus(client: Client, tmp_path: Path) -> None:
    from ui.compare.one_space import CORPUS

    mine = tmp_path / "my_captions.txt"
    mine.write_text("\n".join(CORPUS.read_text().splitlines()[:150]) + "\n")
    run_compare(client, EXAMPLES[-1])
    info, *_, numbers = client.predict(handle_file(str(mine)), api_name="/one_space")
    assert "of 150 captions" in info
    again, *_ = client.predict(handle_file(str(mine)), api_name="/one_space")
    assert "loaded from" in again  # the same corpus finds its cached bridge
