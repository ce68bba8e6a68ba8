"""`bridge fit|apply` and `fusion train|apply` handlers, called directly on files, plus their one-line errors."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from safetensors.numpy import save_file
from synthetic_spaces import paired_spaces, planted_noise_modality

from alignment.cli import bridge, fusion, main
from alignment.cli.matrices import load_matrix
from alignment.space.bridge import load_bridge
from alignment.space.contrastive import MIN_ROWS
from alignment.space.fusion import load_fusion

QUICK = ["--max-epochs", "3", "--threads", "1", "-q"]


def parse(argv: list[str]) -> argparse.Namespace:
    """What alignment.cli will do: add the subcommands to its parser, then parse."""
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    bridge.add_subcommand(commands)
    fusion.add_subcommand(commands)
    return parser.parse_args(argv)


def run(argv: list[str]) -> int:
    args = parse(argv)
    return args.run(args, lambda message: None)  # a log without .progress is fine too


@pytest.fixture
def paired(tmp_path):
    src, tgt = paired_spaces(300, "isometric", seed=0)
    np.save(tmp_path / "clap_text.npy", src)
    save_file({"embeddings": tgt}, str(tmp_path / "clip_text.safetensors"))
    return tmp_path, src, tgt


def test_bridge_fit_and_apply(paired, capsys) -> None:
    folder, src, tgt = paired
    out = folder / "bridge.safetensors"
    assert (
        run(
            [
                "bridge",
                "fit",
                "--source",
                str(folder / "clap_text.npy"),
                "--target",
                str(folder / "clip_text.safetensors"),
                "--method",
                "procrustes",
                "--out",
                str(out),
                "--source-model",
                "laion/clap-htsat-unfused",
                "--target-model",
                "openai/clip-vit-base-patch32",
                "--target-revision",
                "r2",
                *QUICK,
            ]
        )
        == 0
    )
    assert "held-out R@1 1.000" in capsys.readouterr().out
    bridge = load_bridge(out)
    assert bridge.method == "procrustes" and bridge.key["target_rev"] == "r2"

    mapped = folder / "mapped.npy"
    assert (
        run(["bridge", "apply", "--bridge", str(out), "--input", str(folder / "clap_text.npy"), "--out", str(mapped)])
        == 0
    )
    y = np.load(mapped)
    assert y.shape == (300, 32) and y.dtype == np.float32
    assert np.array_equal(y, bridge.apply(src))


def test_bridge_fit_best_lists_every_method(paired, capsys) -> None:
    folder, _, _ = paired
    out = folder / "best.safetensors"
    assert (
        run(
            [
                "bridge",
                "fit",
                "--source",
                str(folder / "clap_text.npy"),
                "--target",
                str(folder / "clip_text.safetensors"),
                "--method",
                "best",
                "--out",
                str(out),
                *QUICK,
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for method in ("procrustes", "ridge", "mlp"):
        assert f"{method}: held-out R@1" in printed
    assert set(load_bridge(out).candidates) == {"procrustes", "ridge", "mlp"}


def test_fusion_train_and_apply_with_attention(tmp_path) -> None:
    views, target = planted_noise_modality(200, seed=0)
    paths = []
    for name, view in zip(("noise", "signal"), views, strict=True):
        paths.append(str(tmp_path / f"{name}.npy"))
        np.save(paths[-1], view)
    np.save(tmp_path / "target.npy", target)
    model_path = tmp_path / "fusion.safetensors"
    assert (
        run(
            [
                "fusion",
                "train",
                "--views",
                *paths,
                "--target",
                str(tmp_path / "target.npy"),
                "--method",
                "attention",
                "--out",
                str(model_path),
                *QUICK,
            ]
        )
        == 0
    )
    model = load_fusion(model_path)
    assert model.names == ("noise", "signal")

    mask = np.ones((200, 2), dtype=bool)
    mask[0, 0] = False
    np.save(tmp_path / "mask.npy", mask)
    out, att = tmp_path / "fused.npy", tmp_path / "att.npy"
    assert (
        run(
            [
                "fusion",
                "apply",
                "--model",
                str(model_path),
                "--views",
                *paths,
                "--mask",
                str(tmp_path / "mask.npy"),
                "--out",
                str(out),
                "--attention",
                str(att),
            ]
        )
        == 0
    )
    fused, weights = model.apply(views, mask)
    assert np.array_equal(np.load(out), fused)
    assert np.array_equal(np.load(att), weights) and np.load(att)[0, 0] == 0.0


# ---------------------------------------------------------------------------- errors


def test_bad_inputs_raise_value_errors(paired, tmp_path) -> None:
    folder, src, tgt = paired
    fit = ["bridge", "fit", "--out", str(folder / "b.safetensors"), "--method", "ridge", *QUICK]

    np.save(folder / "short.npy", tgt[:-1])
    with pytest.raises(ValueError, match=r"one row per pair: .*clap_text.npy has 300 rows"):
        run([*fit, "--source", str(folder / "clap_text.npy"), "--target", str(folder / "short.npy")])

    nan = src.copy()
    nan[11, 2] = np.nan
    np.save(folder / "nan.npy", nan)
    with pytest.raises(ValueError, match=r"source row 11 holds NaN"):
        run([*fit, "--source", str(folder / "nan.npy"), "--target", str(folder / "clip_text.safetensors")])

    np.save(folder / "few_src.npy", src[:5])
    np.save(folder / "few_tgt.npy", tgt[:5])
    with pytest.raises(ValueError, match=rf"at least {MIN_ROWS} paired rows"):
        run([*fit, "--source", str(folder / "few_src.npy"), "--target", str(folder / "few_tgt.npy")])

    (folder / "x.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match=r"x.txt: embeddings must be .npy or .safetensors"):
        run([*fit, "--source", str(folder / "x.txt"), "--target", str(folder / "few_tgt.npy")])
    with pytest.raises(ValueError, match=r"missing.npy: no such file"):
        run([*fit, "--source", str(folder / "missing.npy"), "--target", str(folder / "few_tgt.npy")])

    save_file({"a": src, "b": src}, str(folder / "two.safetensors"))
    with pytest.raises(ValueError, match=r"no tensor 'embeddings' and 2 tensors"):
        load_matrix(folder / "two.safetensors")
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"pickled Python objects"):
        load_matrix(folder / "objects.npy")

    np.save(folder / "t.npy", tgt)
    mean_model = folder / "mean.safetensors"
    views = [str(folder / "clip_text.safetensors"), str(folder / "t.npy")]
    assert (
        run(
            [
                "fusion",
                "train",
                "--views",
                *views,
                "--target",
                str(folder / "t.npy"),
                "--method",
                "mean",
                "--out",
                str(mean_model),
                *QUICK,
            ]
        )
        == 0
    )
    with pytest.raises(ValueError, match=r"a mean fusion has no attention weights"):
        run(
            [
                "fusion",
                "apply",
                "--model",
                str(mean_model),
                "--views",
                *views,
                "--out",
                str(folder / "y.npy"),
                "--attention",
                str(folder / "a.npy"),
            ]
        )
    with pytest.raises(ValueError, match=r"fuses 2 views .* got 3 --views"):
        run(
            ["fusion", "apply", "--model", str(mean_model), "--views", *views, views[0], "--out", str(folder / "y.npy")]
        )
    np.save(folder / "t_short.npy", tgt[:-3])
    with pytest.raises(ValueError, match=r"one row per item in every file"):
        run(
            [
                "fusion",
                "train",
                "--views",
                views[0],
                str(folder / "t_short.npy"),
                "--target",
                str(folder / "t.npy"),
                "--out",
                str(mean_model),
                *QUICK,
            ]
        )
    with pytest.raises(ValueError, match=r"--out must be a .safetensors file"):
        run(
            [
                "fusion",
                "train",
                "--views",
                *views,
                "--target",
                str(folder / "t.npy"),
                "--out",
                str(folder / "f.npy"),
                *QUICK,
            ]
        )


def test_main_prints_one_error_line(paired, capsys) -> None:
    folder, _, tgt = paired
    np.save(folder / "short.npy", tgt[:-1])
    status = main(
        [
            "bridge",
            "fit",
            "--source",
            str(folder / "clap_text.npy"),
            "--target",
            str(folder / "short.npy"),
            "--out",
            str(folder / "b.safetensors"),
            "-q",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1 and err[0].startswith("error: --source and --target must have one row")
