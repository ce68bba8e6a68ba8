"""Fusion: fused items beat every single modality when identity is split across modalities, attention finds
the informative modality in a planted case, missing modalities and token features work, round trips are exact.

Bars: 200 held-out items (chance R@1 = 0.005). With half of the latents per modality a single modality gets
R@1 ~0.7; every fusion method must beat the better single modality by >= 0.15 (observed ~0.3). In the planted
case (one modality pure noise) attention must put >= 0.8 of its weight on the informative one (observed ~0.95;
uniform would be 0.5).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic_spaces import planted_noise_modality, split_identity

from alignment.space.contrastive import MIN_ROWS, TrainConfig, pair_metrics, split_rows
from alignment.space.fusion import METHODS, FusionModel, load_fusion, save_fusion
from alignment.space.fusion_training import compare_fusion_methods, train_fusion

N = 1000
HELDOUT = 0.2  # 200 held-out items
FAST = TrainConfig(cpu_threads=1, batch_size=128, lr=3e-3)


@pytest.fixture(scope="module")
def split_case() -> tuple[list[np.ndarray], np.ndarray]:
    return split_identity(N, seed=0)


@pytest.fixture(scope="module")
def planted() -> tuple[list[np.ndarray], np.ndarray]:
    return planted_noise_modality(N, seed=0)


@pytest.fixture(scope="module")
def planted_comparison(planted):
    views, target = planted
    return compare_fusion_methods(views, target, seed=0, val_fraction=HELDOUT, config=FAST, names=("noise", "signal"))


def test_fusion_beats_every_single_modality(split_case) -> None:
    views, target = split_case
    seen: list[tuple[float, str]] = []
    comparison = compare_fusion_methods(
        views,
        target,
        seed=0,
        val_fraction=HELDOUT,
        config=FAST,
        names=("a", "b"),
        progress=lambda fraction, message: seen.append((fraction, message)),
    )
    assert seen and all(0.0 <= f <= 1.0 for f, _ in seen) and seen[-1][0] == 1.0
    assert any("epoch 1, train loss" in message for _, message in seen)
    table = {row["method"]: row for row in comparison.table}
    assert set(table) == {*METHODS, "only a", "only b"}
    single = max(table["only a"]["R@1"], table["only b"]["R@1"])
    assert single < 0.85, table  # the case is informative: neither half alone retrieves its item
    for method in METHODS:
        assert table[method]["R@1"] >= single + 0.15, (method, table[method], single)
        assert table[method]["n_heldout"] == 200
    assert [row["R@1"] for row in comparison.table] == sorted((row["R@1"] for row in comparison.table), reverse=True)


def test_attention_finds_the_informative_modality(planted, planted_comparison) -> None:
    views, target = planted
    model = planted_comparison.models["attention"]
    rows = split_rows(N, val_fraction=HELDOUT, seed=0).heldout
    fused, attention = model.apply([v[rows] for v in views])
    assert attention is not None and attention.shape == (200, 2)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    assert attention[:, 1].mean() >= 0.8, attention.mean(axis=0)
    assert pair_metrics(fused, target[rows])["R@1"] == model.heldout["R@1"]  # apply == what was scored

    weighted = planted_comparison.models["weighted"].modality_weights
    assert weighted is not None and weighted[1] > 0.6, weighted
    table = {row["method"]: row for row in planted_comparison.table}
    for method in ("concat", "weighted", "attention"):  # learning to ignore the noise beats the plain mean
        assert table[method]["R@1"] >= table["mean"]["R@1"] + 0.1, table


def test_history_and_metadata(planted_comparison) -> None:
    model = planted_comparison.models["attention"]
    history = model.history
    assert len(history.train) == len(history.val) >= 1
    assert 0 <= history.best_epoch <= len(history.val)
    assert all(np.isfinite(history.train)) and all(np.isfinite(history.val))
    assert model.names == ("noise", "signal") and model.heads == 2  # 32 dims: 2 heads of 16
    assert planted_comparison.models["mean"].history.train == ()


# ---------------------------------------------------------------------------- missing modalities, tokens


def test_missing_modalities_are_ignored(split_case) -> None:
    views, target = split_case
    model = train_fusion(views, target, method="mean", seed=0)
    mask = np.ones((5, 2), dtype=bool)
    mask[0, 1] = False
    mask[1, 0] = False
    a, b = views[0][:5].copy(), views[1][:5].copy()
    a[1] = np.nan  # absent: its values are never read
    fused, weights = model.apply([a, b], mask)
    assert weights is None
    np.testing.assert_allclose(fused[0], views[0][0], atol=1e-6)
    np.testing.assert_allclose(fused[1], views[1][1], atol=1e-6)

    attention = train_fusion(
        views, target, method="attention", seed=0, config=TrainConfig(cpu_threads=1, max_epochs=2), modality_dropout=0.3
    )
    _, att = attention.apply([a, b], mask)
    assert att is not None
    assert att[0, 1] == 0.0 and att[1, 0] == 0.0
    np.testing.assert_allclose(att.sum(axis=1), 1.0, atol=1e-5)


def test_attention_over_token_features() -> None:
    rng = np.random.default_rng(0)
    n, d = 60, 16
    target = rng.standard_normal((n, d)).astype(np.float32)
    image_tokens = target[:, None, :] + 0.3 * rng.standard_normal((n, 5, d)).astype(np.float32)  # (N, T=5, D)
    text = rng.standard_normal((n, d)).astype(np.float32)  # (N, D) pooled view beside the tokens
    model = train_fusion(
        [image_tokens, text], target, method="attention", seed=0, config=TrainConfig(cpu_threads=1, max_epochs=3)
    )
    fused, attention = model.apply([image_tokens, text])
    assert fused.shape == (n, d) and attention is not None and attention.shape == (n, 2)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-5)
    mean_model = train_fusion([image_tokens, text], target, method="mean", seed=0)
    pooled = mean_model.apply([image_tokens, text])[0]  # tokens are mean-pooled for the other methods
    assert pooled.shape == (n, d)


# ---------------------------------------------------------------------------- persistence


@pytest.mark.parametrize("method", METHODS)
def test_save_load_round_trip_is_exact(method: str, tmp_path, split_case) -> None:
    views, target = split_case
    model = train_fusion(
        [v[:300] for v in views],
        target[:300],
        method=method,
        seed=1,  # type: ignore[arg-type]
        config=TrainConfig(cpu_threads=1, max_epochs=2),
        names=("image", "text"),
    )
    loaded = load_fusion(save_fusion(tmp_path / "f.safetensors", model))
    probe = [v[300:350] for v in views]
    mask = np.ones((50, 2), dtype=bool)
    mask[::7, 0] = False
    for fused_a, fused_b in zip(model.apply(probe, mask), loaded.apply(probe, mask), strict=True):
        if fused_a is None:
            assert fused_b is None
        else:
            assert np.array_equal(fused_a, fused_b)  # bitwise
    assert loaded.to_json() == json.loads(json.dumps(model.to_json()))
    assert isinstance(loaded, FusionModel) and loaded.names == ("image", "text")


def test_load_refuses_other_files(tmp_path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "x.safetensors"
    save_file({"W": np.zeros((2, 2), np.float32)}, str(path), metadata={"format": "alignment.bridge/1"})
    with pytest.raises(ValueError, match="not a fusion model"):
        load_fusion(path)


# ---------------------------------------------------------------------------- bad input


def test_errors_name_the_problem(split_case) -> None:
    views, target = split_case
    with pytest.raises(ValueError, match=r"row counts \[1000, 999\]"):
        train_fusion([views[0], views[1][:-1]], target)
    with pytest.raises(ValueError, match=r"one embedding dimension 32"):
        train_fusion([views[0], views[1][:, :16]], target)
    with pytest.raises(ValueError, match=r"target has 999 rows, expected 1000"):
        train_fusion(views, target[:-1])
    bad = views[1].copy()
    bad[42, 0] = np.nan
    with pytest.raises(ValueError, match=r"view 1 row 42 holds NaN"):
        train_fusion([views[0], bad], target)
    with pytest.raises(ValueError, match=rf"at least {MIN_ROWS} paired rows.*got 12"):
        train_fusion([v[:12] for v in views], target[:12])
    with pytest.raises(ValueError, match=r"mask must be a bool array \(N, M\) = \(1000, 2\)"):
        train_fusion(views, target, mask=np.ones((1000, 3), bool))
    mask = np.ones((1000, 2), bool)
    mask[7] = False
    with pytest.raises(ValueError, match=r"item 7 has no modality present"):
        train_fusion(views, target, mask=mask)
    with pytest.raises(ValueError, match=r"unknown fusion method 'max'"):
        train_fusion(views, target, method="max")  # type: ignore[arg-type]
    model = train_fusion(views, target, method="mean")
    with pytest.raises(ValueError, match=r"expected 2 modality views, got 3"):
        model.apply([*views, views[0]])
