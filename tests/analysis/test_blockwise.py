"""The one-pass scan against the implementations it replaces: rank_of_first_true both ways, the gap removed by
centring, hubness, the threshold histogram and the softmax sums; CPU (numba) and torch backends alike."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from alignment.analysis.blockwise import PairScan, resolve_backend, scan_pair
from alignment.analysis.gap import gap_maps, remove_modality_gap
from alignment.analysis.hubness import hubness
from alignment.analysis.pass_kernel import N_BINS
from alignment.analysis.topk import Ranks, pair_codes, rank_of_first_true

BACKENDS = ["numba", "torch"]  # torch runs on the CPU here: the GPU path's code, unmeasured on a GPU


def quantized(x: np.ndarray, step: float = 2.0**-11) -> np.ndarray:
    """Unit rows on a 2**-11 grid: dot products are exact in float32 whatever the order (ties compare exactly)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return (np.round(x / step) * step).astype(np.float32)


def sign_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """Rows of +-1/4 in 16 dimensions: exactly unit, scores on a grid of 1/16, so ties are everywhere."""
    return (rng.choice([-0.25, 0.25], size=(n, 16))).astype(np.float32)


def captions(n_images: int, per_image: int, n_lonely: int, d: int, *, seed: int, ties: bool = False) -> tuple:
    """n_images images with per_image captions each plus n_lonely captions of no image; pair keys as strings."""
    rng = np.random.default_rng(seed)
    if ties:
        images = sign_rows(rng, n_images)
        texts = sign_rows(rng, n_images * per_image + n_lonely)
    else:
        latent = rng.standard_normal((n_images, d))
        images = quantized(latent + 0.8 * rng.standard_normal((n_images, d)))
        texts = quantized(
            np.concatenate([np.repeat(latent, per_image, axis=0), rng.standard_normal((n_lonely, d))])
            + 0.8 * rng.standard_normal((n_images * per_image + n_lonely, d))
        )
    image_keys = [f"p{i}" for i in range(n_images)]
    text_keys = [f"p{i}" for i in range(n_images) for _ in range(per_image)] + [f"x{i}" for i in range(n_lonely)]
    return texts, images, text_keys, image_keys


def assert_same_ranks(got: Ranks | None, want: Ranks) -> None:
    assert got is not None
    for name in ("rank", "best_true", "n_true", "top_indices", "top_is_true"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    np.testing.assert_allclose(got.best_true_score, want.best_true_score, atol=1e-6)
    np.testing.assert_allclose(got.top_scores, want.top_scores, atol=1e-6)


CASES = {
    "one-to-one, small": dict(n_images=30, per_image=1, n_lonely=0, d=8),
    "five captions per image, lonely captions": dict(n_images=60, per_image=5, n_lonely=17, d=16),
    "medium": dict(n_images=700, per_image=1, n_lonely=40, d=32),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("case", CASES)
def test_both_directions_equal_rank_of_first_true(case: str, ties: bool, backend: str) -> None:
    texts, images, tk, ik = captions(**CASES[case], seed=len(case), ties=ties)
    tc, ic = pair_codes(tk, ik, len(texts), len(images))
    for chunk in (None, 7):
        scan = scan_pair(texts, images, tc, ic, k=10, backend=backend, chunk=chunk)  # type: ignore[arg-type]
        assert_same_ranks(scan.rows, rank_of_first_true(texts, images, tk, ik, k=10))
        assert_same_ranks(scan.cols, rank_of_first_true(images, texts, ik, tk, k=10))


@pytest.mark.parametrize("backend", BACKENDS)
def test_gap_removed_by_a_rank_one_correction_equals_centring_the_embeddings(backend: str) -> None:
    texts, images, tk, ik = captions(200, 2, 9, 24, seed=3)
    tc, ic = pair_codes(tk, ik, len(texts), len(images))
    scan = scan_pair(texts, images, tc, ic, forward=gap_maps(texts, images)[0], backward=gap_maps(texts, images)[1],
                     backend=backend)  # type: ignore[arg-type]  # fmt: skip
    ct, ci = remove_modality_gap(texts, images)
    want_f, want_b = rank_of_first_true(ct, ci, tk, ik, k=10), rank_of_first_true(ci, ct, ik, tk, k=10)
    for got, want in ((scan.forward, want_f), (scan.backward, want_b)):
        assert got is not None
        np.testing.assert_array_equal(got.rank, want.rank)
        np.testing.assert_array_equal(got.top_indices, want.top_indices)
        np.testing.assert_allclose(got.top_scores, want.top_scores, atol=2e-6)  # centred floats vs float64 map


def test_hubness_and_histogram_and_softmax_sums_against_the_full_matrix() -> None:
    texts, images, tk, ik = captions(150, 3, 5, 16, seed=5)
    tc, ic = pair_codes(tk, ik, len(texts), len(images))
    scan = scan_pair(texts, images, tc, ic, beta=20.0, chunk=11)
    assert scan.rows is not None and scan.cols is not None and scan.negatives is not None
    np.testing.assert_array_equal(
        np.bincount(scan.rows.top_indices.ravel(), minlength=len(images)),
        hubness(texts, images, k=10).k_occurrence,
    )
    np.testing.assert_array_equal(
        np.bincount(scan.cols.top_indices.ravel(), minlength=len(texts)), hubness(images, texts, k=10).k_occurrence
    )
    scores = texts.astype(np.float64) @ images.T.astype(np.float64)  # exact: quantized rows
    true = np.asarray(tk)[:, None] == np.asarray(ik)[None, :]
    bins = np.clip(np.floor((scores + 1.0) * 2**14).astype(np.int64), 0, N_BINS - 1)
    np.testing.assert_array_equal(scan.positives, np.bincount(bins[true], minlength=N_BINS))
    np.testing.assert_array_equal(scan.negatives, np.bincount(bins[~true], minlength=N_BINS))
    assert scan.n_true_pairs == true.sum() == 450
    np.testing.assert_allclose(scan.row_log_sum, logsumexp(20.0 * scores, axis=1), rtol=1e-6)
    np.testing.assert_allclose(scan.col_log_sum, logsumexp(20.0 * scores, axis=0), rtol=1e-6)


def test_torch_and_numba_agree_on_everything() -> None:
    texts, images, tk, ik = captions(120, 2, 3, 8, seed=9, ties=True)
    tc, ic = pair_codes(tk, ik, len(texts), len(images))
    fwd, bwd = gap_maps(texts, images)
    scans: list[PairScan] = [
        scan_pair(texts, images, tc, ic, forward=fwd, backward=bwd, beta=10.0, backend=b, chunk=c)  # type: ignore[arg-type]
        for b, c in (("numba", 13), ("torch", 29))
    ]
    for name in ("rows", "cols", "forward", "backward"):
        a, b = getattr(scans[0], name), getattr(scans[1], name)
        for field in ("rank", "best_true", "top_indices", "top_is_true", "top_scores", "best_true_score"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=f"{name}.{field}")
    np.testing.assert_array_equal(scans[0].negatives, scans[1].negatives)
    np.testing.assert_allclose(scans[0].col_log_sum, scans[1].col_log_sum, rtol=1e-6)  # float32 exp: numpy vs torch


def test_a_kept_matrix_is_the_scores_and_a_given_one_skips_the_product() -> None:
    texts, images, tk, ik = captions(40, 1, 0, 8, seed=2)
    tc, ic = pair_codes(tk, ik, len(texts), len(images))
    kept = scan_pair(texts, images, tc, ic, keep_matrix=True, chunk=9)
    assert kept.matrix is not None
    np.testing.assert_array_equal(kept.matrix, texts @ images.T)
    again = scan_pair(texts, images, tc, ic, matrix=kept.matrix)
    assert_same_ranks(again.rows, kept.rows)  # type: ignore[arg-type]


def test_backend_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_backend("auto") == ("numba", None)
    assert resolve_backend("torch") == ("torch", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend("auto") == ("torch", "cuda")  # a GPU present: the blocks go through torch on CUDA
    assert resolve_backend("numba") == ("numba", None)
    with pytest.raises(ValueError, match=r"backend must be 'auto', 'numba' or 'torch' \(got 'cuda'\)"):
        resolve_backend("cuda")  # type: ignore[arg-type]


def test_progress_and_bad_options() -> None:
    texts, images, tk, ik = captions(20, 1, 0, 8, seed=1)
    tc, ic = pair_codes(tk, ik, len(texts), len(images))
    seen: list[float] = []
    scan_pair(texts, images, tc, ic, chunk=6, progress=seen.append)
    assert seen == pytest.approx([6 / 20, 12 / 20, 18 / 20, 1.0])
    with pytest.raises(ValueError, match=r"k must be at least 1 \(got k=0\)"):
        scan_pair(texts, images, tc, ic, k=0)
    with pytest.raises(ValueError, match=r"beta must be positive \(got -1.0\)"):
        scan_pair(texts, images, tc, ic, beta=-1.0)
    with pytest.raises(ValueError, match=r"chunk must be a positive number of query rows \(got 0\)"):
        scan_pair(texts, images, tc, ic, chunk=0)
