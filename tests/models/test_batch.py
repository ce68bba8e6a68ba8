"""The embed engines: same vectors as the encoders, bad items reported per item, a killed run resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from embed_data import make_collection

import alignment.cli as cli
from alignment.inputs import shards
from alignment.inputs.dataset import load_dataset, load_items
from alignment.inputs.embeddings import load_spaces
from alignment.inputs.limits import Limits
from alignment.models.embed import embed_items
from alignment.models.embed_job import EmbedJob
from alignment.models.embed_run import run_embed
from alignment.models.encoders import Encoders
from alignment.models.settings import Settings


def job(source: Path, out: Path, settings: Settings, **kwargs: object) -> EmbedJob:
    return EmbedJob(source=source, out=out, settings=settings, **kwargs)  # type: ignore[arg-type]


def reference(manifest: Path, encoders: Encoders) -> dict[str, dict[tuple[str, str], np.ndarray]]:
    """Per space, (modality, id) -> the vector `embed_items` gives (the app's path), for every good item."""
    items = load_items(load_dataset(manifest), Limits(max_items=10_000)).items
    out: dict[str, dict[tuple[str, str], np.ndarray]] = {}
    for space, encoder, other in (("clip", encoders.clip, "image"), ("clap", encoders.clap, "audio")):
        out[space] = {}
        for modality in ("text", other):
            group = [i for i in items if i.modality == modality]
            vectors = embed_items(encoder, group)[0]
            out[space].update({(modality, i.id): v for i, v in zip(group, vectors, strict=True)})
    return out


def cosines(found: dict, expected: dict) -> np.ndarray:
    assert set(found) == set(expected)
    return np.array([float(found[k] @ expected[k]) for k in expected])


def vectors_by_key(out: Path) -> dict[str, dict[tuple[str, str], np.ndarray]]:
    spaces = load_spaces(out, require_pairs=False)
    return {s: {(m, i): v for m, i, v in zip(e.modality, e.ids, e.embeddings, strict=True)} for s, e in spaces.items()}


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_collection(tmp_path_factory.mktemp("collection"))


@pytest.fixture(scope="module")
def local_out(collection: Path, tiny_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local")
    run_embed(job(collection, out, tiny_settings, shard_size=5, workers=1), log=lambda m: None)
    return out


def test_local_engine_gives_the_encoders_vectors(collection: Path, local_out: Path, encoders: Encoders) -> None:
    found, expected = vectors_by_key(local_out), reference(collection, encoders)
    assert set(found) == {"clip", "clap"}
    for space in found:
        assert cosines(found[space], expected[space]).min() >= 0.9999, space


def test_bad_items_are_reported_per_item_not_dropped(local_out: Path) -> None:
    problems = [json.loads(line) for line in (local_out / "problems.jsonl").read_text().splitlines()]
    keys = {(p["space"], p["modality"], p["id"]) for p in problems}
    # the corrupt image in CLIP's space; the over-long text in both spaces (each space embeds every text)
    assert keys == {("clip", "image", "broken"), ("clip", "text", "too long"), ("clap", "text", "too long")}
    assert all(p["problem"] and p["source"] for p in problems)
    table, _ = shards.read_table(local_out / "clip")
    assert shards.failed_rows(table).num_rows == 2  # kept in the shards, with their reason
    summary = json.loads((local_out / "embed.json").read_text())
    assert summary["state"] == "complete" and summary["problems"] == 3
    assert summary["spaces"]["clip"]["embedded"] == {"text": 14, "image": 10}
    assert summary["spaces"]["clap"]["embedded"] == {"text": 14, "audio": 3}
    assert summary["spaces"]["clip"]["model"]["precision"] == "fp32"


def test_a_second_run_finds_everything_done(collection: Path, local_out: Path, tiny_settings: Settings) -> None:
    before = {p: p.stat().st_mtime_ns for p in local_out.glob("*/*.parquet")}
    summary, _ = run_embed(job(collection, local_out, tiny_settings, shard_size=5, workers=0), log=lambda m: None)
    assert summary["spaces"]["clip"]["already_done"] == summary["spaces"]["clip"]["items"] == 26
    assert {p: p.stat().st_mtime_ns for p in local_out.glob("*/*.parquet")} == before


def test_ray_engine_gives_the_local_engines_output(
    collection: Path, local_out: Path, tiny_settings: Settings, tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray"
        ray_job = job(collection, out, tiny_settings, engine="ray", workers=1, shard_size=8, spaces=("clip",))
        run_embed(ray_job, log=lambda m: None)
    finally:
        ray.shutdown()
    found, local = vectors_by_key(out), vectors_by_key(local_out)
    for space in ("clip",):  # one space keeps the test short; CLAP goes through the same stages
        assert cosines(found[space], local[space]).min() >= 0.9999, space
        ray_rows = shards.read_table(out / space, columns=["row", "id", "error"])[0].to_pylist()
        local_rows = shards.read_table(local_out / space, columns=["row", "id", "error"])[0].to_pylist()
        assert ray_rows == local_rows  # the same rows, ids and failures, in the same order
    problems = (local_out / "problems.jsonl").read_text().splitlines()
    assert (out / "problems.jsonl").read_text().splitlines() == [p for p in problems if '"space": "clip"' in p]


def test_a_killed_run_resumes_to_the_uninterrupted_output(
    tmp_path: Path, tiny_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    manifest = make_collection(tmp_path / "big", repeat=3, audio=False, bad=False)  # 60 rows
    args = ["embed", str(manifest), "--preset", "tiny", "--device", "cpu", "--shard-size", "4", "--workers", "0"]
    args += ["--batch-size", "4"]
    env = {**os.environ, "ALIGN_CACHE": str(tiny_settings.cache_dir), "PYTHONPATH": str(ROOT)}
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "alignment", *args, "--out", str(killed)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(list((killed / "clip").glob("*.parquet"))) < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "no shard appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    state = json.loads((killed / "embed.json").read_text())
    done = len(shards.read_table(killed / "clip", columns=["row"])[0])
    assert state["state"] == "running" and 0 < done < 60, "the run was not killed midway"

    monkeypatch.setenv("ALIGN_CACHE", str(tiny_settings.cache_dir))
    assert cli.main([*args, "--out", str(killed)]) == 0  # the resumed run
    assert f"{done:,} from an earlier run" in capsys.readouterr().out
    whole = tmp_path / "whole"
    assert cli.main([*args, "--out", str(whole)]) == 0
    a, _ = shards.read_table(killed / "clip")
    b, _ = shards.read_table(whole / "clip")
    assert a.drop_columns("embedding").equals(b.drop_columns("embedding"))  # same rows, ids, sources, hashes
    va, vb = (np.array(t.column("embedding").to_pylist(), np.float32) for t in (a, b))
    np.testing.assert_allclose(va, vb, atol=1e-6)
