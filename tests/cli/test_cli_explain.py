"""`python -m alignment explain`: the handler, called directly with the tiny preset (alignment/cli.py registers it)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from toys import (
    RATE,
    one_torch_thread,  # noqa: F401  (autouse fixture)
    tone_clip,
)

from alignment.cli.explain import add_subcommand
from alignment.core.errors import InputError
from alignment.models.settings import Settings

FAST = ["--steps", "2", "--random-orders", "1"]


def _run(argv: list[str], settings: Settings, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str]]:
    monkeypatch.setenv("ALIGN_CACHE", str(settings.cache_dir))  # reuse the session's tiny checkpoints
    parser = argparse.ArgumentParser(prog="python -m alignment")
    add_subcommand(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["explain", "--preset", "tiny", "--device", "cpu", *argv])
    lines: list[str] = []
    return args.run(args, lines.append), lines


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("method", ["maskclip", "rollout"])
def test_image(
    photo: Path,
    tmp_path: Path,
    tiny_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    method: str,
) -> None:
    out = tmp_path / "out"
    status, log = _run(
        ["--text", "a cat", "--image", str(photo), "--out", str(out), "--method", method, *FAST],
        tiny_settings,
        monkeypatch,
    )
    assert status == 0 and method in capsys.readouterr().out and any("Loading CLIP" in line for line in log)
    assert sorted(p.name for p in out.iterdir()) == [
        "faithfulness.json",
        "image_relevance.npy",
        "overlay.png",
        "tokens.json",
    ]
    relevance = np.load(out / "image_relevance.npy")
    assert relevance.shape == (4, 4) and relevance.min() >= 0 and relevance.max() == pytest.approx(1.0)
    assert Image.open(out / "overlay.png").size == (56, 40)
    tokens = json.loads((out / "tokens.json").read_text())
    assert [t for t, _ in tokens] == ["a", "c", "a", "t"] and all(-1 <= r <= 1 for _, r in tokens)
    faith = json.loads((out / "faithfulness.json").read_text())
    assert faith["method"] == method and faith["units"] == "patches" and faith["grid"] == [4, 4]
    for mode in ("deletion", "insertion"):
        assert isinstance(faith[mode]["area"], float) and len(faith[mode]["explained"]) == 3


@pytest.mark.parametrize("method", ["windows", "gradient"])
def test_audio(tmp_path: Path, tiny_settings: Settings, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    clip = tmp_path / "beep.wav"
    sf.write(clip, tone_clip(2.0, (0.5, 1.5)).samples, RATE)
    out = tmp_path / "out"
    status, _ = _run(
        ["--text", "a beep", "--audio", str(clip), "--out", str(out), "--method", method, *FAST],
        tiny_settings,
        monkeypatch,
    )
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "faithfulness.json",
        "overlay.png",
        "time_relevance.npy",
        "tokens.json",
    ]
    curve = np.load(out / "time_relevance.npy")
    expected = 3 if method == "windows" else 201  # 3 windows of 1 s (hop 0.5 s), or 100 mel frames/s + 1
    assert curve.shape == (expected, 2) and curve[:, 1].min() >= 0 and curve[:, 1].max() <= 1
    assert curve[-1, 0] == pytest.approx(1.5 if method == "windows" else 2.0)
    assert Image.open(out / "overlay.png").mode == "RGB"
    faith = json.loads((out / "faithfulness.json").read_text())
    assert faith["units"] == "windows" and len(faith["windows"]) == 3 and faith["baseline"] == "silence"


def test_bad_arguments_fail_before_loading(
    photo: Path, tmp_path: Path, tiny_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = str(tmp_path / "out")
    with pytest.raises(ValueError, match="is for audio"):
        _run(["--text", "a", "--image", str(photo), "--out", out, "--method", "windows"], tiny_settings, monkeypatch)
    with pytest.raises(InputError, match="no such file"):
        _run(["--text", "a", "--audio", str(tmp_path / "missing.wav"), "--out", out], tiny_settings, monkeypatch)
    with pytest.raises(ValueError, match="opacity"):
        _run(["--text", "a", "--image", str(photo), "--out", out, "--opacity", "2"], tiny_settings, monkeypatch)
    with pytest.raises(SystemExit):  # argparse: --image and --audio are exclusive
        _run(["--text", "a", "--image", str(photo), "--audio", str(photo), "--out", out], tiny_settings, monkeypatch)


def test_through_main_once_registered(
    photo: Path,
    tmp_path: Path,
    tiny_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m alignment explain` through alignment.cli.main: exit codes and error lines."""
    from alignment import cli

    monkeypatch.setenv("ALIGN_CACHE", str(tiny_settings.cache_dir))
    out = tmp_path / "out"
    argv = [
        "explain",
        "--preset",
        "tiny",
        "--text",
        "a cat",
        "--image",
        str(photo),
        "--out",
        str(out),
        "-q",
        "--no-faithfulness",
    ]
    assert cli.main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["image_relevance.npy", "overlay.png", "tokens.json"]
    capsys.readouterr()
    assert cli.main([*argv, "--method", "gradient"]) == 1
    assert capsys.readouterr().err.startswith("error: --method gradient is for audio; an image takes maskclip or")
    assert cli.main(["explain", "--text", "a", "--image", str(tmp_path / "nope.png"), "--out", str(out)]) == 1
    assert "nope.png: no such file" in capsys.readouterr().err
