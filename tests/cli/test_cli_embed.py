"""`python -m alignment embed`: shards, a summary and the problems file; evaluate, bridge and fusion read them back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from embed_data import make_collection

import alignment.cli as cli
from alignment.cli.matrices import load_matrix
from alignment.core.errors import InputError
from alignment.inputs import shards
from alignment.inputs.embeddings import load_embeddings
from alignment.models.settings import Settings

TINY = ["--preset", "tiny", "--device", "cpu", "--workers", "0"]


@pytest.fixture
def tiny_env(monkeypatch: pytest.MonkeyPatch, tiny_settings: Settings) -> None:
    for name in ("ALIGN_PRESET", "ALIGN_CLIP", "ALIGN_CLAP", "ALIGN_DEVICE", "ALIGN_PRECISION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIGN_CACHE", str(tiny_settings.cache_dir))


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_collection(tmp_path_factory.mktemp("cli-collection"))


def test_embed_then_evaluate_the_shards(tiny_env: None, collection: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert cli.main(["embed", str(collection), "--out", str(out), *TINY, "--shard-size", "6"]) == 0
    captured = capsys.readouterr()
    assert "clip: 14 text, 10 image embedded, 2 failed" in captured.out
    assert "clap: 14 text, 3 audio embedded, 1 failed" in captured.out
    assert "items/s" in captured.err and "ETA" in captured.err  # progress with rate and ETA
    assert "broken.jpg" in captured.err  # each problem is listed, and in problems.jsonl
    assert len((out / "problems.jsonl").read_text().splitlines()) == 3
    assert {p.name for p in out.iterdir()} == {"clip", "clap", "embed.json", "problems.jsonl"}

    assert cli.main(["evaluate", str(out), "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(metrics["dataset"]["spaces"]) == {"clip", "clap"} and metrics["dataset"]["kind"] == "shards"
    assert metrics["models"]["shards"]["clip"]["precision"] == "fp32" and metrics["models"]["random_weights"]
    summary = capsys.readouterr().out
    assert "(10 queries, clip space)" in summary and "(3 queries, clap space)" in summary


def test_gallery_folder_float16_and_precision(tiny_env: None, tmp_path: Path, capsys) -> None:
    gallery = tmp_path / "gallery"
    shutil.copytree(shared_path("photos"), gallery / "photos")
    out = tmp_path / "out"
    args = ["embed", str(gallery), "--out", str(out), *TINY, "--float16", "--precision", "bf16"]
    assert cli.main(args) == 0
    assert "clip: 10 image embedded" in capsys.readouterr().out
    assert [p.name for p in out.iterdir() if p.is_dir()] == ["clip"]  # no audio, no texts: CLIP only
    table, meta = shards.read_table(out / "clip")
    assert meta.dtype == "float16" and meta.precision == "bf16"
    assert table.column("id").to_pylist()[0] == "photos/bird.bmp"
    embedded = load_embeddings(out, require_pairs=False)
    assert len(embedded) == 10 and embedded.embeddings.dtype == np.float32

    # the same folder with other settings is refused, not mixed
    assert cli.main(["embed", str(gallery), "--out", str(out), *TINY]) == 1
    assert "this shard vs this run: precision: bf16 vs fp32" in capsys.readouterr().err
    (gallery / "photos" / "bird.bmp").unlink()  # another collection: refused too
    assert cli.main(["embed", str(gallery), "--out", str(out), *TINY, "--float16", "--precision", "bf16"]) == 1
    assert "another collection" in capsys.readouterr().err


def test_bridge_reads_one_modality_of_the_shards(tiny_env: None, tmp_path: Path) -> None:
    collection = make_collection(tmp_path / "data", repeat=2)  # 24 texts: the bridge needs 20 pairs
    out = tmp_path / "out"
    assert cli.main(["embed", str(collection), "--out", str(out), *TINY]) == 0
    clap_text, clip_text = load_matrix(f"{out}/clap::text"), load_matrix(f"{out}/clip::text")
    assert clap_text.shape[0] == clip_text.shape[0] == 24  # the same texts, row for row
    assert load_matrix(f"{out}/clip::image").shape[0] == 20
    with pytest.raises(InputError, match="holds 2 spaces"):
        load_matrix(f"{out}::text")
    with pytest.raises(InputError, match="add ::MODALITY"):
        load_matrix(f"{out}/clip")
    with pytest.raises(InputError, match="no embedded 'audio' rows"):
        load_matrix(f"{out}/clip::audio")
    bridge = tmp_path / "bridge.safetensors"
    fit = ["bridge", "fit", "--source", f"{out}/clap::text", "--target", f"{out}/clip::text"]
    assert cli.main([*fit, "--method", "procrustes", "--out", str(bridge)]) == 0


def test_bad_flags_are_one_error_line(tiny_env: None, collection: Path, tmp_path: Path, capsys) -> None:
    assert cli.main(["embed", str(collection), "--out", str(tmp_path / "o"), *TINY, "--shard-size", "0"]) == 1
    assert "--shard-size must be at least 1" in capsys.readouterr().err
    assert cli.main(["embed", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o"), *TINY]) == 1
    assert "no such file" in capsys.readouterr().err
