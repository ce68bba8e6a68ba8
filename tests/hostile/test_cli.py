"""The hostile corpus through `python -m alignment` (in process, tiny models): a refused input is exit status 1 with
one `error:` line naming it and the problem; a partly usable one runs with a `skipped:` line per bad part; an
ok one runs. Surfaces: explain (images, audio, texts), evaluate (datasets, embeddings), bridge / fusion apply."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from alignment import cli
from alignment.models.settings import Settings

from .corpus import CASES, Case
from .files import png, write

TINY = ["--preset", "tiny", "--device", "cpu"]
CLI_CASES = [c for c in CASES if c.cli and c.surface != "text_file"]  # no command reads a text file of captions


@pytest.fixture
def tiny_env(monkeypatch: pytest.MonkeyPatch, tiny_settings: Settings) -> None:
    for name in ("ALIGN_PRESET", "ALIGN_CLIP", "ALIGN_CLAP", "ALIGN_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIGN_CACHE", str(tiny_settings.cache_dir))  # the session's tiny checkpoints


def _argv(case: Case, built: Path | str, folder: Path) -> list[str]:
    out = folder / "out"
    if case.surface in ("image", "audio"):
        return ["explain", "--text", "a cat", f"--{case.surface}", str(built), "--out", str(out), *TINY]
    if case.surface == "text":
        photo = write(folder / "photo.png", png((40, 30)))
        return ["explain", "--text", str(built), "--image", str(photo), "--out", str(out), *TINY]
    if case.surface in ("dataset", "embeddings"):
        return ["evaluate", str(built), "--out", str(out), *TINY]
    rng = np.random.default_rng(0)
    if case.surface == "bridge":
        x = folder / "x.npy"
        np.save(x, rng.normal(size=(3, 6)).astype(np.float32))
        return ["bridge", "apply", "--bridge", str(built), "--input", str(x), "--out", str(folder / "y.npy")]
    views = []
    for n in range(2):
        views.append(str(folder / f"view{n}.npy"))
        np.save(views[-1], rng.normal(size=(3, 8)).astype(np.float32))
    return ["fusion", "apply", "--model", str(built), "--views", *views, "--out", str(folder / "y.npy")]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_case_through_the_cli(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_env: None) -> None:
    folder = tmp_path / "upload"
    built = case.build(folder)
    argv = _argv(case, built, folder)
    if case.surface in ("image", "audio", "text"):
        argv.append("--no-faithfulness")
    code = cli.main([*argv, "--quiet"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[src/libmpg123")]
    name = "--text" if case.surface == "text" else case.upload  # the CLI names its argument
    if case.expect == "refused":
        assert code == 1, (out, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert name in lines[0] and re.search(case.reason, lines[0].removeprefix("error: ")), lines
        return
    assert code == 0, err
    skipped = [line.removeprefix("skipped: ") for line in lines if line.startswith("skipped: ")]
    if case.expect == "partial":
        assert any(re.search(case.reason, line) and line.startswith(case.upload) for line in skipped), lines
    else:
        assert skipped == [], lines


def test_explain_applies_the_file_size_limit_and_the_explanation_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    import soundfile as sf

    import alignment.cli.explain as explain_command
    from alignment.inputs.limits import Limits

    clip = tmp_path / "talk.wav"
    sf.write(clip, np.zeros(61_000, np.int16), 1_000, subtype="PCM_16")  # 61 s at 1 kHz: 122 kB
    out = str(tmp_path / "out")
    assert cli.main(["explain", "--text", "a dog", "--audio", str(clip), "--out", out, *TINY, "-q"]) == 1
    assert "an explanation may cover at most 60 s (max_explain_seconds)" in capsys.readouterr().err
    real = explain_command.settings_from
    monkeypatch.setattr(
        explain_command, "settings_from", lambda args: dataclasses.replace(real(args), limits=Limits(max_file_mb=0.1))
    )
    assert cli.main(["explain", "--text", "a dog", "--audio", str(clip), "--out", out, *TINY, "-q"]) == 1
    assert "talk.wav: file is 0.122 MB, over the limit of 0.1 MB" in capsys.readouterr().err
