"""`python -m alignment evaluate`: end to end with tiny models, precomputed embeddings, and clean failures."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, shared_path

import alignment.cli as cli
import alignment.cli.evaluate as evaluate_command
import alignment.models.factory
from alignment.analysis.evaluate import Evaluation
from alignment.inputs.embeddings import from_arrays, save_npz, save_safetensors
from alignment.models.settings import Settings

ASSETS = ROOT / "assets"
METRIC_KEYS = {"R@1", "R@5", "R@10", "MRR", "median_rank", "mean_rank", "mAP@10", "accuracy", "n_queries"}
DIRECTION_KEYS = METRIC_KEYS | {"n_skipped", "space"}
TINY = ["--preset", "tiny", "--device", "cpu"]


@pytest.fixture
def tiny_env(monkeypatch: pytest.MonkeyPatch, tiny_settings: Settings) -> None:
    """The CLI reads ALIGN_* like the app: point it at the session's tiny models, ignore the caller's settings."""
    for name in ("ALIGN_PRESET", "ALIGN_CLIP", "ALIGN_CLAP", "ALIGN_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIGN_CACHE", str(tiny_settings.cache_dir))


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Evaluation]:
    """Every Evaluation the CLI computes, to compare its files with."""
    seen: list[Evaluation] = []

    def spy(*args: object, **kwargs: object) -> Evaluation:
        seen.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return seen[-1]

    real = evaluate_command.evaluate
    monkeypatch.setattr(evaluate_command, "evaluate", spy)
    return seen


@pytest.fixture
def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to build an encoder fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded")

    for name in ("load_encoders", "load_encoder", "_from_pretrained"):
        monkeypatch.setattr(alignment.models.factory, name, refuse)


def manifest(root: Path, *, extra: list[dict[str, str]] = ()) -> Path:  # type: ignore[assignment]
    """A long-form manifest over the bundled examples: each file with its caption, labels from the file name."""
    pairs = json.loads((ASSETS / "examples.json").read_text())[0]["pairs"]
    rows = []
    for rel, caption in pairs.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ASSETS / rel, root / rel)
        key = Path(rel).stem
        rows.append({"id": key, "modality": "text", "content": caption, "pair": key, "label": ""})
        rows.append(
            {
                "id": key,
                "modality": "image" if rel.startswith("images/") else "audio",
                "content": rel,
                "pair": key,
                "label": key.split("_")[0],
            }
        )
    path = root / "manifest.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "modality", "content", "pair", "label"])
        writer.writeheader()
        writer.writerows([*rows, *extra])
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def read_errors(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def assert_matches(rows: list[dict[str, str]], evaluation: Evaluation) -> None:
    assert len(rows) == len(evaluation.errors)
    for row, e in zip(rows, evaluation.errors, strict=True):
        assert (row["direction"], row["space"], row["query"], row["query_modality"], row["truth"], row["top"]) == (
            e.direction,
            e.space,
            e.query,
            e.query_modality,
            e.truth,
            e.top,
        )
        assert int(row["rank"]) == e.rank
        for key in ("truth_score", "top_score", "margin"):
            assert float(row[key]) == getattr(e, key)  # written with repr: exact round trip


def assert_one_error_line(code: int, out: str, err: str, *needles: str) -> None:
    """Exit status 1 and, with --quiet, nothing on stderr but `error: ...` (progress lines would precede it)."""
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err and out == ""
    for needle in needles:
        assert needle in lines[0]


# ---------------------------------------------------------------------------- manifests with tiny models


def test_manifest_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_env: None, captured: list[Evaluation]
) -> None:
    bad = {"id": "ghost", "modality": "image", "content": "images/ghost.jpg", "pair": "ghost", "label": "ghost"}
    source = manifest(tmp_path / "data", extra=[bad])
    out = tmp_path / "out"
    code, stdout, stderr = run(
        capsys,
        "evaluate",
        str(source),
        "--out",
        str(out),
        *TINY,
        "--templates-image",
        "a photo of a {}.",
        "a picture of a {}.",
    )
    assert code == 0, stderr
    [evaluation] = captured

    metrics = json.loads((out / "metrics.json").read_text())
    directions = {"text->image", "image->text", "text->audio", "audio->text"}
    assert directions <= set(metrics)
    for name in directions:
        assert set(metrics[name]) == DIRECTION_KEYS
    assert metrics["image->text"]["n_queries"] == 6 and metrics["audio->text"]["n_queries"] == 6
    assert metrics["text->image"]["n_skipped"] == 6  # the sound captions have no image
    assert {k: v for k, v in metrics.items() if k not in ("dataset", "models", "problems")} == json.loads(
        json.dumps(evaluation.to_json())
    )
    assert set(metrics["zero_shot"]) == {"image", "audio"}
    assert metrics["models"]["random_weights"] is True and metrics["models"]["clip"] == "tiny"
    assert metrics["dataset"]["true_pairs"] == {"text-image": 6, "text-audio": 6}
    assert metrics["dataset"]["spaces"]["clip"]["items"] == 18
    # the missing file is skipped, listed on stderr and in metrics.json
    assert len(metrics["problems"]) == 1 and "ghost.jpg" in metrics["problems"][0]
    assert f"skipped: {metrics['problems'][0]}" in stderr
    assert "[100%] Done" in stderr  # progress on stderr, the summary on stdout
    assert "text->image" in stdout and "R@1" in stdout

    rows = read_errors(out / "errors.csv")
    assert_matches(rows, evaluation)
    assert len(rows) == metrics["n_errors"] > 0
    assert list(rows[0]) == list(evaluate_command.ERROR_COLUMNS)

    report = (out / "report.html").read_text(encoding="utf-8")
    assert len(re.findall(r"plotly\.js v\d", report)) == 1  # the library is embedded once
    assert report.count("Plotly.newPlot") == 8  # retrieval, ranks, thresholds, gap, hubness, 2 confusions, errors
    assert "Zero-shot audio" in report and "random weights" in report


def test_clotho_subset_with_the_tiny_preset(tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_env: None) -> None:
    captions = shared_path("clotho_subset", "captions.csv")
    with captions.open(newline="", encoding="utf-8") as handle:
        clips = list(csv.DictReader(handle))
    code, _, stderr = run(capsys, "evaluate", str(captions), "--out", str(tmp_path), *TINY, "--quiet")
    assert code == 0, stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["audio->text"]["n_queries"] == len(clips)
    assert metrics["text->audio"]["n_queries"] == 5 * len(clips)  # five captions per clip
    assert "text->image" not in metrics and metrics["models"]["clip"] is None  # no image: CLIP is not loaded
    assert metrics["dataset"]["form"] == "wide"
    assert (tmp_path / "report.html").stat().st_size > 0
    assert stderr == ""  # --quiet, and nothing was skipped


def test_zip_with_a_wide_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_env: None) -> None:
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("photos/pairs.csv", "image,caption\ncat.jpg,a tabby cat\ncoffee.jpg,a cup of coffee\n")
        for name in ("cat.jpg", "coffee.jpg"):
            zf.write(ASSETS / "images" / name, f"photos/{name}")
    code, _, stderr = run(capsys, "evaluate", str(archive), "--out", str(tmp_path / "out"), *TINY)
    assert code == 0, stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["dataset"]["kind"] == "zip" and metrics["dataset"]["name"] == "photos.zip:photos/pairs.csv"
    assert metrics["image->text"]["n_queries"] == 2 and metrics["models"]["clap"] is None
    assert "zero_shot" not in metrics  # no labels


# ---------------------------------------------------------------------------- precomputed embeddings (no model)


def aligned(n: int = 12, d: int = 16) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """n text/image pairs on orthonormal directions, each image exactly on its caption's direction."""
    vectors = np.linalg.qr(np.random.default_rng(0).normal(size=(d, d)))[0][:n].astype(np.float32)  # (n, d)
    ids = [f"cap{i}" for i in range(n)] + [f"img{i}" for i in range(n)]
    return ids, ["text"] * n + ["image"] * n, [f"p{i}" for i in range(n)] * 2, np.concatenate([vectors, vectors])


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_precomputed_perfect_alignment_loads_no_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None, suffix: str
) -> None:
    ids, modality, pair, vectors = aligned()
    embedded = from_arrays(ids, modality, pair, vectors)
    path = (save_npz if suffix == ".npz" else save_safetensors)(tmp_path / f"emb{suffix}", embedded)
    code, _, stderr = run(capsys, "evaluate", str(path), "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for name in ("text->image", "image->text"):
        assert set(metrics[name]) == DIRECTION_KEYS
        assert metrics[name]["R@1"] == 1.0 and metrics[name]["MRR"] == 1.0 and metrics[name]["space"] == "precomputed"
    assert metrics["n_errors"] == 0 and metrics["models"]["loaded"] is False
    assert read_errors(tmp_path / "out" / "errors.csv") == []
    assert (tmp_path / "out" / "errors.csv").read_text().splitlines() == [",".join(evaluate_command.ERROR_COLUMNS)]
    assert "No alignment errors" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_precomputed_planted_swap_gives_exactly_the_expected_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None, captured: list[Evaluation]
) -> None:
    ids, modality, pair, vectors = aligned()
    hostile = "<script>alert(1)</script>"
    ids[3] = hostile  # a caption id that would run if the report did not escape it
    u3, u7 = vectors[3].copy(), vectors[7].copy()
    vectors[12 + 3], vectors[12 + 7] = 0.6 * u3 + 0.8 * u7, 0.6 * u7 + 0.8 * u3  # img3 and img7 lean to the other
    path = save_npz(tmp_path / "swap.npz", from_arrays(ids, modality, pair, vectors))
    code, _, stderr = run(capsys, "evaluate", str(path), "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    rows = read_errors(tmp_path / "out" / "errors.csv")
    assert {(r["direction"], r["query"], r["truth"], r["top"], r["rank"]) for r in rows} == {
        ("text->image", hostile, "img3", "img7", "2"),
        ("text->image", "cap7", "img7", "img3", "2"),
        ("image->text", "img3", hostile, "cap7", "2"),
        ("image->text", "img7", "cap7", hostile, "2"),
    }
    for r in rows:  # cosines 0.8 (the other image/caption) against 0.6 (the true one)
        assert (float(r["top_score"]), float(r["truth_score"])) == (
            pytest.approx(0.8, abs=1e-5),
            pytest.approx(0.6, abs=1e-5),
        )
        assert float(r["margin"]) == pytest.approx(0.2, abs=1e-5)
    assert_matches(rows, captured[0])
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert hostile not in report and "&lt;script&gt;alert(1)&lt;/script&gt;" in report


def test_python_dash_m_smoke(tmp_path: Path) -> None:
    path = save_npz(tmp_path / "emb.npz", from_arrays(*aligned()))
    done = subprocess.run(
        [sys.executable, "-m", "alignment", "evaluate", str(path), "--out", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "text->image    R@1 1.000" in done.stdout
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"metrics.json", "errors.csv", "report.html"}


# ---------------------------------------------------------------------------- hubness correction


def hubby(n: int = 120, seed: int = 0) -> tuple[list[str], list[str], list[str], np.ndarray, np.ndarray]:
    """Columns of a one-to-one set where 4 images lean towards a direction every text shares, plus a text bank."""
    rng = np.random.default_rng(seed)
    d = 32
    h = rng.standard_normal(d)
    h *= np.sqrt(d) / np.linalg.norm(h)
    g = rng.standard_normal((n, d))
    hub = np.zeros(n)
    hub[:4] = 1.0
    texts, images = g + 0.7 * h, g + 1.5 * rng.standard_normal((n, d)) + 0.8 * hub[:, None] * h
    ids = [f"t{i}" for i in range(n)] + [f"i{i}" for i in range(n)]
    vectors = np.concatenate([texts, images]).astype(np.float32)
    return (
        ids,
        ["text"] * n + ["image"] * n,
        [str(i) for i in range(n)] * 2,
        vectors,
        (rng.standard_normal((300, d)) + 0.7 * h).astype(np.float32),
    )


@pytest.mark.parametrize("method", ["csls", "isf"])
def test_hubness_correction_on_precomputed_embeddings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None, captured: list[Evaluation], method: str
) -> None:
    *columns, _ = hubby()
    path = save_npz(tmp_path / "emb.npz", from_arrays(*columns))
    code, stdout, stderr = run(capsys, "evaluate", str(path), "--out", str(tmp_path / "out"), "--hubness", method, "-q")
    assert code == 0, stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    block = metrics["hubness_correction"]
    assert (block["method"], block["k"], block["beta"], block["query_bank"]) == (method, 10, 20.0, None)
    for name in ("text->image", "image->text"):
        d = captured[0].directions[name]
        assert d.corrected is not None
        got = block["directions"][name]
        assert got["after"]["R@1"] == d.corrected.metrics.r1 and got["before"]["R@1"] == d.metrics.r1
        assert got["after"]["hub_skew"] == d.corrected.hubness.skewness
        assert got["n_fixed"] == len(got["fixed"]) == len(d.corrected.fixed)
        assert f"{name:<14} {method}: R@1 {d.metrics.r1:.3f} -> {d.corrected.metrics.r1:.3f}" in stdout
    forward = block["directions"]["text->image"]
    assert forward["after"]["R@1"] > forward["before"]["R@1"]  # the planted hubs cost the plain ranking
    assert forward["after"]["hub_skew"] < forward["before"]["hub_skew"]
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert f"Hubness correction: {method}" in report and report.count("<td>fixed</td>") == sum(
        len(block["directions"][n]["fixed"]) for n in ("text->image", "image->text")
    )


def test_qbnorm_on_precomputed_embeddings_needs_a_bank(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None
) -> None:
    *columns, bank = hubby()
    path = save_npz(tmp_path / "emb.npz", from_arrays(*columns))
    out = str(tmp_path / "out")
    assert_one_error_line(
        *run(capsys, "evaluate", str(path), "--out", out, "--hubness", "qbnorm", "-q"), "needs --query-bank FILE"
    )
    bank_path = save_npz(
        tmp_path / "bank.npz",
        from_arrays(
            [f"b{i}" for i in range(300)], ["text"] * 300, [f"b{i}" for i in range(300)], bank, require_pairs=False
        ),
    )
    code, _, stderr = run(
        capsys, "evaluate", str(path), "--out", out, "--hubness", "qbnorm", "--query-bank", str(bank_path)
    )
    assert code == 0, stderr
    block = json.loads((tmp_path / "out" / "metrics.json").read_text())["hubness_correction"]
    assert block["query_bank"] == {"precomputed": {"text": 300}}
    assert "after" in block["directions"]["text->image"]
    assert "no query bank of image" in block["directions"]["image->text"]["skipped"]
    assert "note: image->text: qbnorm skipped" in stderr


def test_qbnorm_on_a_manifest_embeds_the_bundled_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_env: None, captured: list[Evaluation]
) -> None:
    source = manifest(tmp_path / "data")
    code, _, stderr = run(
        capsys, "evaluate", str(source), "--out", str(tmp_path / "out"), *TINY, "--hubness", "qbnorm",
        "--query-bank-max", "200",
    )  # fmt: skip
    assert code == 0, stderr
    assert "Embedding a query bank of 200 captions from captions.txt (clip, clap text towers)" in stderr
    block = json.loads((tmp_path / "out" / "metrics.json").read_text())["hubness_correction"]
    assert block["query_bank"] == {"clip": {"text": 200}, "clap": {"text": 200}}
    for name in ("text->image", "text->audio"):  # text queries: the caption bank applies
        assert captured[0].directions[name].corrected is not None
    for name in ("image->text", "audio->text"):
        assert "skipped" in block["directions"][name]


def test_hubness_options_are_checked_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None
) -> None:
    path = save_npz(tmp_path / "emb.npz", from_arrays(*aligned()))
    out = str(tmp_path / "out")
    assert_one_error_line(
        *run(capsys, "evaluate", str(path), "--out", out, "--hubness", "csls", "--hubness-k", "11", "-q"),
        "--hubness-k must be between 1 and 10 (got 11)",
    )
    assert_one_error_line(
        *run(capsys, "evaluate", str(path), "--out", out, "--hubness", "isf", "--hubness-beta", "0", "-q"),
        "--hubness-beta must be positive (got 0.0)",
    )
    source = manifest(tmp_path / "data")
    assert_one_error_line(
        *run(
            capsys, "evaluate", str(source), "--out", out, *TINY, "--hubness", "qbnorm", "--query-bank", str(path), "-q"
        ),
        "--query-bank embeddings go with precomputed embeddings",
    )
    with pytest.raises(SystemExit):
        cli.main(["evaluate", str(path), "--out", out, "--hubness", "mnn"])
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["evaluate"].format_help()  # type: ignore[union-attr]
    for needle in ("{none,csls,isf,qbnorm}", "Conneau", "Smith", "Bogolin", "captions.txt", "--query-bank-max"):
        assert needle in help_text


# ---------------------------------------------------------------------------- failures: one line, exit 1


def test_missing_source(tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None) -> None:
    missing = tmp_path / "nowhere.csv"
    assert_one_error_line(
        *run(capsys, "evaluate", str(missing), "--out", str(tmp_path / "out")), str(missing), "no such file or folder"
    )
    assert not (tmp_path / "out").exists()


def test_hostile_manifest_stops_on_the_bad_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None
) -> None:
    escape = {"id": "x", "modality": "image", "content": "../../etc/passwd", "pair": "cat", "label": ""}
    source = manifest(tmp_path / "data", extra=[escape])
    assert_one_error_line(
        *run(capsys, "evaluate", str(source), "--out", str(tmp_path / "out"), *TINY, "--on-error", "stop", "--quiet"),
        "manifest.csv line 26",
        "..",
    )


def test_undecodable_file_under_stop(tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None) -> None:
    source = manifest(tmp_path / "data")
    (tmp_path / "data" / "images" / "cat.jpg").write_bytes(b"not a jpeg at all")
    code, out, err = run(
        capsys, "evaluate", str(source), "--out", str(tmp_path / "out"), *TINY, "--on-error", "stop", "--quiet"
    )
    assert_one_error_line(code, out, err, "manifest.csv line", "images/cat.jpg")


def test_nan_embeddings(tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None) -> None:
    ids, modality, pair, vectors = aligned()
    vectors[5, 2] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, ids=np.array(ids), modality=np.array(modality), pair=np.array(pair), embeddings=vectors)
    code, out, err = run(capsys, "evaluate", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert code == 0  # the bad row is skipped and named; the other 23 rows are evaluated
    assert err.strip() == "skipped: nan.npz: embeddings row 5 (id 'cap5') holds NaN or infinite values; skipped"
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["problems"] == [err.strip().removeprefix("skipped: ")]
    assert metrics["dataset"]["items"] == {"text": 11, "image": 12}
    assert_one_error_line(
        *run(capsys, "evaluate", str(path), "--out", str(tmp_path / "out"), "--quiet", "--on-error", "stop"),
        "nan.npz",
        "row 5",
        "NaN",
    )


def test_template_without_placeholder(tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None) -> None:
    path = save_npz(tmp_path / "emb.npz", from_arrays(*aligned()))
    assert_one_error_line(
        *run(
            capsys,
            "evaluate",
            str(path),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
            "--templates-audio",
            "the sound of a dog",
        ),
        "--templates-audio",
        "{}",
    )


def test_unavailable_model_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail at once instead of probing the network
    monkeypatch.setenv("ALIGN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()
    shutil.copy(ASSETS / "images" / "cat.jpg", tmp_path / "data" / "cat.jpg")
    (tmp_path / "data" / "pairs.csv").write_text("image,caption\ncat.jpg,a cat\n", encoding="utf-8")
    code, out, err = run(
        capsys,
        "evaluate",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "out"),
        "--clip",
        str(tmp_path / "no-such-model"),
        "--device",
        "cpu",
        "--quiet",
    )
    assert_one_error_line(code, out, err, "Cannot load the CLIP (image-text) model", "--preset tiny")
