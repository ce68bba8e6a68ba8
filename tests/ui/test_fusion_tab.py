"""Fusion on user data: grouping embeddings into items, and the Fusion tab through its API against the library."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from alignment.inputs.embeddings import from_arrays, save_npz
from alignment.space.contrastive import TrainConfig
from alignment.space.fusion import METHODS
from alignment.space.fusion_data import fusion_items, synthetic_items
from alignment.space.fusion_training import compare_fusion_methods
from ui.fusion import MAX_EPOCHS


def test_items_group_rows_by_pair_with_a_presence_mask() -> None:
    rng = np.random.default_rng(0)
    n = 24
    vectors = rng.normal(size=(3 * n + 1, 8)).astype(np.float32)
    ids = [f"t{i}" for i in range(n)] + ["t0b"] + [f"i{i}" for i in range(n)] + [f"a{i}" for i in range(n)]
    modality = ["text"] * (n + 1) + ["image"] * n + ["audio"] * n
    pair = [f"p{i}" for i in range(n)] + ["p0"] + [f"p{i}" for i in range(n)] + [f"p{i}" for i in range(n)]
    data = from_arrays(ids, modality, pair, vectors)
    items = fusion_items(data)
    assert items.names == ("image", "audio") and len(items.keys) == n
    assert items.mask.all()
    two_captions = data.embeddings[[0, n]].mean(axis=0)
    assert np.allclose(items.target[0], two_captions / np.linalg.norm(two_captions), atol=1e-6)
    assert np.allclose(np.linalg.norm(items.target, axis=1), 1, atol=1e-5)

    no_audio = from_arrays(ids[: 2 * n + 1], modality[: 2 * n + 1], pair[: 2 * n + 1], vectors[: 2 * n + 1])
    with pytest.raises(ValueError, match="at least two other modalities"):
        fusion_items(no_audio)


def test_fusion_tab_equals_the_library_and_fusion_beats_each_modality(client: Client) -> None:
    summary, table, legend, curves, weights, per_item, numbers = client.predict(
        None, "text", list(METHODS), api_name="/fusion"
    )
    rows = {r["method"]: r for r in numbers["table"]}
    assert set(rows) == {*METHODS, "only image", "only audio"}
    best_single = max(rows["only image"]["R@1"], rows["only audio"]["R@1"])
    for method in METHODS:  # the signal is split across image and audio: every fusion must beat either alone
        assert rows[method]["R@1"] > best_single + 0.2, method

    items = fusion_items(synthetic_items())
    direct = compare_fusion_methods(
        list(items.views),
        items.target,
        mask=items.mask,
        names=items.names,
        config=TrainConfig(max_epochs=MAX_EPOCHS, cpu_threads=1),
    )
    for row in direct.table:
        assert rows[row["method"]]["R@1"] == pytest.approx(row["R@1"], abs=1e-6), row["method"]

    item_weights = np.array([r[1:] for r in per_item["data"]], dtype=float)
    assert per_item["headers"] == ["item", "image", "audio"]
    assert np.allclose(item_weights.sum(axis=1), 1, atol=1e-3)
    assert "Best held-out R@1" in summary and "guessing" in summary
    assert "**R@1** is the share whose own text comes first" in legend  # the columns explained in plain words


def test_fusion_tab_reads_an_upload_and_names_bad_ones(client: Client, tmp_path) -> None:
    path = save_npz(tmp_path / "items.npz", synthetic_items(n=120, seed=1))
    summary, *_ = client.predict(handle_file(str(path)), "text", ["mean"], api_name="/fusion")
    assert "**120 items**" in summary
    only_two = synthetic_items(n=60).select(np.arange(120))  # text and image rows only
    bad = save_npz(tmp_path / "two.npz", only_two)
    with pytest.raises(AppError, match="at least two other modalities"):
        client.predict(handle_file(str(bad)), "text", ["mean"], api_name="/fusion")
