"""`python -m alignment index` and `search`: index folders, galleries without an index, towers loaded, failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

import alignment.cli as cli
import alignment.models.factory
from alignment.inputs.embeddings import from_arrays, save_npz
from alignment.inputs.files import load_files
from alignment.inputs.limits import Limits
from alignment.inputs.text import load_texts
from alignment.models.embed import embed_items
from alignment.models.encoders import Encoders
from alignment.models.settings import Settings
from alignment.search import Query, load_gallery, search
from alignment.space.bridge import fit_bridge, save_bridge
from alignment.space.shared import read_corpus

ASSETS = ROOT / "assets"
TINY = ["--preset", "tiny", "--device", "cpu"]


@pytest.fixture
def tiny_env(monkeypatch: pytest.MonkeyPatch, tiny_settings: Settings) -> None:
    """The CLI reads ALIGN_* like the app: point it at the session's tiny models, ignore the caller's settings."""
    for name in ("ALIGN_PRESET", "ALIGN_CLIP", "ALIGN_CLAP", "ALIGN_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIGN_CACHE", str(tiny_settings.cache_dir))


@pytest.fixture
def loaded_roles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The towers the CLI builds, in order."""
    roles: list[str] = []
    real = alignment.models.factory.load_encoder

    def spy(role: str, *args: object, **kwargs: object) -> object:
        roles.append(role)
        return real(role, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(alignment.models.factory, "load_encoder", spy)
    return roles


@pytest.fixture(scope="module")
def bridge_file(encoders: Encoders, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A procrustes bridge fitted on tiny-model caption embeddings, saved as `bridge fit` would."""
    items = load_texts(read_corpus(ASSETS / "corpus" / "captions.txt", max_captions=200), limits=Limits(max_items=200))
    bridge = fit_bridge(embed_items(encoders.clap, items.items)[0], embed_items(encoders.clip, items.items)[0])
    path = tmp_path_factory.mktemp("bridge") / "bridge.safetensors"
    save_bridge(path, bridge)
    return path


def gallery_file(path: Path, encoders: Encoders, modality: str, n: int = 40) -> Path:
    """Captions and n random vectors of `modality` in the tiny space (dimension 16): an embeddings file."""
    rng = np.random.default_rng(0)
    texts = ["a dog barking", "a cat", "rain on a roof", "a siren", "coffee"]
    role = encoders.clip if modality == "image" else encoders.clap
    vectors = np.concatenate([role.encode_text(texts).numpy(), rng.standard_normal((n, role.dim))])
    ids = texts + [f"{modality}{i}" for i in range(n)]
    modalities = ["text"] * 5 + [modality] * n
    save_npz(path, from_arrays(ids, modalities, ids, vectors, label=["x"] * (n + 5), require_pairs=False))
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_index_then_search_matches_the_library(
    tiny_env, encoders: Encoders, tmp_path: Path, capsys, loaded_roles
) -> None:
    source = gallery_file(tmp_path / "gallery.npz", encoders, "image")
    code, out, _ = run(["index", str(source), "--out", str(tmp_path / "idx"), "--model", "tiny", "-q"], capsys)
    assert code == 0 and "text   exact" not in out and "FAISS flat (exact inner product, 40 vectors)" in out
    code, out, err = run(
        [
            "search",
            "--index",
            str(tmp_path / "idx"),
            "--text",
            "a dog",
            "-k",
            "4",
            "--out",
            str(tmp_path / "r.json"),
            *TINY,
        ],
        capsys,
    )
    assert code == 0, err
    assert loaded_roles == ["clip"]  # a text query in CLIP space: the CLAP tower is never built
    saved = json.loads((tmp_path / "r.json").read_text())
    expected = search(load_gallery(tmp_path / "idx"), Query.of(text="a dog"), encoders=encoders, k=4)
    assert [h["id"] for h in saved["hits"]] == [h.id for h in expected.hits]
    assert np.allclose([h["score"] for h in saved["hits"]], [h.score for h in expected.hits], atol=1e-6)
    assert saved["combination"] == "single text" and saved["space"]["model_id"] == "tiny"
    lines = out.splitlines()
    assert lines[0] == "query: text 'a dog' (single text)" and "rank" in lines[4]
    top = expected.hits[0]
    assert lines[5].split()[:3] == ["1", f"{top.score:.4f}", top.modality] and top.id in lines[5]


def test_approximate_index_shows_its_recall(tiny_env, encoders: Encoders, tmp_path: Path, capsys) -> None:
    source = gallery_file(tmp_path / "gallery.npz", encoders, "image", n=400)
    code, out, err = run(["index", str(source), "--out", str(tmp_path / "idx"), "--kind", "hnsw", "-q"], capsys)
    assert code == 0, err
    assert "FAISS HNSW (approximate, 400 vectors): recall@10" in out
    assert "text   FAISS flat (exact inner product, 5 vectors)" in out  # too few captions to approximate
    code, out, err = run(
        ["search", "--index", str(tmp_path / "idx"), "--text", "a cat", "--target", "image", *TINY], capsys
    )
    assert code == 0, err
    assert "search: image: FAISS HNSW (approximate, 400 vectors): recall@10" in out
    assert "does not record which CLIP checkpoint" in out  # indexed without --model


def test_clap_gallery_without_an_index_loads_clap_only(
    tiny_env, encoders, tmp_path: Path, capsys, loaded_roles
) -> None:
    source = gallery_file(tmp_path / "sounds.npz", encoders, "audio")
    code, out, err = run(
        ["search", "--gallery", str(source), "--text", "a siren", "--target", "text", "-k", "1", *TINY], capsys
    )
    assert code == 0, err
    assert loaded_roles == ["clap"] and "CLAP space" in out
    assert out.splitlines()[5].split()[2:5] == ["text", "a", "siren"]  # the caption itself ranks first


def test_a_manifest_is_embedded_and_searched(tiny_env, encoders: Encoders, tmp_path: Path, capsys) -> None:
    argv = ["search", "--gallery", str(ASSETS / "paired.csv"), "--text", "a cat", "--target", "image", "-k", "2"]
    code, out, err = run([*argv, "--out", str(tmp_path / "r.json"), *TINY], capsys)
    assert code == 0, err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["gallery"] == "paired.csv (clip)" and result["space"]["model_id"] == "tiny"
    query = encoders.clip.encode_text(["a cat"]).numpy()[0]
    images = sorted((ASSETS / "images").iterdir())
    vectors = encoders.clip.encode_image([load_files([p], "image").items[0].payload for p in images]).numpy()
    best = np.argsort(-(vectors @ query), kind="stable")[:2]  # (2,) brute force over the dataset's six photos
    assert [h["source"].split("(")[-1].rstrip(")") for h in result["hits"]] == [
        f"images/{images[i].name}" for i in best
    ]


def test_examples_image_to_audio_through_a_saved_bridge(tiny_env, bridge_file: Path, tmp_path: Path, capsys) -> None:
    code, out, err = run(
        [
            "search", "--gallery", "examples", "--image", str(ASSETS / "images" / "cat.jpg"), "--text", "at night",
            "--weights", "text=0.5", "--target", "audio", "-k", "3", "--bridge", str(bridge_file),
            "--out", str(tmp_path / "r.json"), *TINY,
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads((tmp_path / "r.json").read_text())
    assert [h["modality"] for h in result["hits"]] == ["audio"] * 3
    assert result["space"]["backbone"] == "clip" and result["space"]["bridge"].startswith("procrustes:")
    assert result["combination"].startswith("weighted sum of unit embeddings, renormalised: 0.5 x text")
    assert {(g["query_modality"], g["target_modality"]) for g in result["modality_gap"]} == {
        ("text", "audio"),
        ("image", "audio"),
    }
    assert all(Path(h["source"]).is_file() for h in result["hits"])
    assert "modality gap: image → audio crosses modalities (the audio reached CLIP space through the bridge)" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--text", "a"], "one of the arguments --index --gallery is required"),
        (["--gallery", "examples"], "error: give a query: --text, --image and/or --audio"),
        (["--gallery", "examples", "--text", "a", "--weights", "text:2"], "'text:2' must be MODALITY=NUMBER"),
        (["--gallery", "examples", "--image", "nowhere.jpg"], "error: nowhere.jpg: no such image file"),
        (["--gallery", "nowhere.npz", "--text", "a"], "error: nowhere.npz: no such gallery"),
        (["--gallery", "examples", "--text", "a", "--out", "r.csv"], "error: r.csv: --out must be a .json file"),
    ],
)
def test_bad_commands_fail_with_one_line(tiny_env, argv: list[str], message: str, capsys) -> None:
    try:
        code = cli.main(["search", *argv, *TINY])
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    _, err = capsys.readouterr()
    assert code in (1, 2) and message in err


def test_an_index_of_another_model_or_a_damaged_one_is_named(tiny_env, encoders, tmp_path: Path, capsys) -> None:
    source = gallery_file(tmp_path / "gallery.npz", encoders, "image")
    run(["index", str(source), "--out", str(tmp_path / "idx"), "--model", "openai/clip-vit-base-patch32", "-q"], capsys)
    code, _, err = run(["search", "--index", str(tmp_path / "idx"), "--text", "a dog", *TINY], capsys)
    assert code == 1 and "embedded by CLIP 'openai/clip-vit-base-patch32'" in err and "load the gallery's model" in err
    (tmp_path / "idx" / "image.faiss").write_bytes(b"junk")
    code, _, err = run(["search", "--index", str(tmp_path / "idx"), "--text", "a dog", *TINY], capsys)
    assert code == 1 and f"error: {tmp_path / 'idx'}: image.faiss differs from the file written" in err
    code, _, err = run(["index", str(tmp_path / "none.npz"), "--out", str(tmp_path / "x")], capsys)
    assert code == 1 and "none.npz: no such embeddings file or shard folder" in err


def test_search_with_a_hubness_correction_matches_the_library(
    tiny_env, encoders: Encoders, tmp_path: Path, capsys
) -> None:
    from alignment.search import hubness_correction

    source = gallery_file(tmp_path / "gallery.npz", encoders, "image")
    run(["index", str(source), "--out", str(tmp_path / "idx"), "--model", "tiny", "-q"], capsys)
    argv = ["search", "--index", str(tmp_path / "idx"), "--text", "a dog", "--target", "image", "-k", "5"]
    code, out, err = run([*argv, "--hubness", "isf", "--out", str(tmp_path / "r.json"), *TINY], capsys)
    assert code == 0, err
    gallery = load_gallery(tmp_path / "idx")
    fix = hubness_correction("isf", gallery, ["image"], "text")  # against the gallery's 5 captions
    expected = search(gallery, Query.of(text="a dog"), encoders=encoders, targets=["image"], k=5, correction=fix)
    saved = json.loads((tmp_path / "r.json").read_text())
    assert [h["id"] for h in saved["hits"]] == [h.id for h in expected.hits]
    assert np.allclose([h["score"] for h in saved["hits"]], [h.score for h in expected.hits], atol=1e-5)
    assert saved["correction"] == fix.name and "against the gallery's 5 text items" in err
    with pytest.raises(SystemExit):  # argparse's own check of the choices
        run([*argv, "--hubness", "magic", *TINY], capsys)
    assert "invalid choice: 'magic'" in capsys.readouterr().err
