"""Gallery search without models: equal to brute-force cosine top-k, per target modality, exact = index, hooks."""

from __future__ import annotations

import numpy as np
import pytest

from alignment.analysis.gap import modality_gap
from alignment.analysis.index import IndexSettings
from alignment.inputs.embeddings import Embedded, from_arrays
from alignment.search import Gallery, Space, gallery_from_embedded

D = 24


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def embedded(n_text: int = 300, n_image: int = 200, *, seed: int = 0) -> Embedded:
    rng = np.random.default_rng(seed)
    shift = rng.standard_normal(D)  # a planted modality gap: images sit off to one side
    vectors = np.concatenate([rng.standard_normal((n_text, D)), rng.standard_normal((n_image, D)) + shift])
    modality = ["text"] * n_text + ["image"] * n_image
    rows = rng.permutation(n_text + n_image)  # modalities interleaved, as in a real file
    return from_arrays(
        [f"item{i}" for i in range(len(rows))],
        [modality[r] for r in rows],
        [f"p{r % 150}" for r in rows],
        vectors[rows],
        require_pairs=False,
    )


def brute_force(gallery: np.ndarray, query: np.ndarray, allowed: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    """Every cosine, sorted by (score desc, row asc): the reference the search must match."""
    scores = (gallery @ query).astype(np.float64)  # (N,)
    rows = [r for r in sorted(range(len(gallery)), key=lambda r: (-scores[r], r)) if allowed[r]][:k]
    return rows, scores[rows]


@pytest.fixture(scope="module")
def data() -> Embedded:
    return embedded()


@pytest.fixture(scope="module")
def gallery(data: Embedded) -> Gallery:
    return gallery_from_embedded(data, space=Space("clip", D))


@pytest.mark.parametrize("targets", [None, ["image"], ["text"], ["image", "text"]])
def test_search_equals_brute_force_cosine_topk(gallery: Gallery, data: Embedded, targets) -> None:
    queries = unit(np.random.default_rng(5).standard_normal((7, D)))
    found = gallery.search(queries, 12, targets=targets)
    allowed = np.isin(np.asarray(data.modality), targets or ["text", "image"])
    for q, query in enumerate(queries):
        rows, scores = brute_force(data.embeddings, query, allowed, 12)
        assert found.rows[q].tolist() == rows
        assert np.allclose(found.scores[q], scores, atol=1e-5) and np.array_equal(found.scores, found.cosines)


def test_exact_and_faiss_flat_galleries_agree(data: Embedded) -> None:
    exact = gallery_from_embedded(data, space=Space("clip", D))
    flat = gallery_from_embedded(data, space=Space("clip", D), settings=IndexSettings(kind="flat"))
    assert "exact cosine" in exact.parts["text"].searcher.describe()
    assert "FAISS flat" in flat.parts["text"].searcher.describe()
    queries = np.concatenate([data.embeddings[:20], unit(np.random.default_rng(1).standard_normal((20, D)))])
    a, b = exact.search(queries, 10), flat.search(queries, 10)
    assert np.array_equal(a.rows, b.rows) and np.allclose(a.scores, b.scores, atol=1e-5)


def test_ties_resolve_to_the_lower_row_in_both_paths() -> None:
    rng = np.random.default_rng(2)
    base = unit(rng.standard_normal((3, D)))
    vectors = base[[0, 1, 1, 2, 1, 1, 0]]
    data = from_arrays([f"i{n}" for n in range(7)], ["image"] * 7, ["p"] * 7, vectors, require_pairs=False)
    for settings in (None, IndexSettings(kind="flat")):
        g = gallery_from_embedded(data, space=Space("clip", D), settings=settings)
        assert g.search(base[1:2], 3).rows[0].tolist() == [1, 2, 4]


def test_gap_and_mean_cosines_match_their_definitions(gallery: Gallery, data: Embedded) -> None:
    text, image = data.embeddings[data.rows("text")], data.embeddings[data.rows("image")]
    assert gallery.gap("text", "image") == pytest.approx(modality_gap(text, image), abs=1e-6)
    assert gallery.mean_cosine("text", "image") == pytest.approx(float(np.mean(text @ image.T)), abs=1e-5)
    within = image @ image.T  # (n, n): the mean over pairs of two different items
    off_diagonal = (within.sum() - np.trace(within)) / (len(image) * (len(image) - 1))
    assert gallery.mean_cosine("image", "image") == pytest.approx(off_diagonal, abs=1e-5)


class Bonus:
    """A test correction: adds a fixed bonus per gallery row (what CSLS-style corrections do, in shape)."""

    name = "bonus"

    def __init__(self, bonus: np.ndarray, wide: int) -> None:
        self.bonus, self.wide, self.calls = bonus, wide, []

    def candidates(self, k: int) -> int:
        return self.wide

    def rescore(self, queries: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
        self.calls.append(rows.shape)
        return scores + np.where(rows >= 0, self.bonus[np.maximum(rows, 0)], 0)


def test_a_correction_rescores_the_widened_candidates(gallery: Gallery, data: Embedded) -> None:
    query = unit(np.random.default_rng(9).standard_normal((1, D)))
    plain = gallery.search(query, 5, targets=["image"])
    bonus = np.zeros(len(data), np.float32)
    lifted = int(gallery.search(query, 30, targets=["image"]).rows[0, 25])  # 26th by cosine
    bonus[lifted] = 10.0
    correction = Bonus(bonus, 30)
    found = gallery.search(query, 5, targets=["image"], correction=correction)
    assert correction.calls == [(1, 30)]  # 30 cosine candidates of the one target modality were re-scored
    assert found.rows[0, 0] == lifted and found.rows[0, 1:].tolist() == plain.rows[0, :4].tolist()
    assert found.scores[0, 0] == pytest.approx(found.cosines[0, 0] + 10.0)


def test_bad_targets_and_dimensions_are_named(gallery: Gallery) -> None:
    with pytest.raises(ValueError, match="holds no audio items"):
        gallery.search(unit(np.ones((1, D))), 3, targets=["audio"])
    with pytest.raises(ValueError, match="unknown target modality 'video'"):
        gallery.search(unit(np.ones((1, D))), 3, targets=["video"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"query has 8 dimensions but gallery .* holds 24-dimensional"):
        gallery.search(unit(np.ones((1, 8))), 3)
    with pytest.raises(ValueError, match="the space says 16"):
        gallery_from_embedded(embedded(5, 5), space=Space("clip", 16))
