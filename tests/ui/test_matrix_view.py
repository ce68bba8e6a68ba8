"""The clickable similarity matrix: what it shows equals the scores, labels are escaped, and a click names a pair."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
import soundfile as sf
from matrix_html import read_matrix
from PIL import Image

from alignment.analysis.compare import compare
from alignment.models.encoders import Encoders
from ui.assets import bundled_examples
from ui.compare.views import picked_pair
from ui.widgets import matrix as matrix_view


def test_cells_labels_and_outlines_follow_the_matrix() -> None:
    scores = np.array([[0.1, 0.9], [0.5, -0.2], [0.7, 0.3]], dtype=np.float32)
    rows = ["a cat", "a dog <b>barking</b> & howling", "x" * 60]
    html = matrix_view.matrix_html(scores, rows, ["cat.jpg", "dog.png"], title="Text × image", value_name="cosine")
    shown = read_matrix(html)
    np.testing.assert_allclose(shown.values, scores, atol=1e-6)
    assert shown.rows == rows and shown.cols == ["cat.jpg", "dog.png"]  # full labels, even the long one
    assert sorted(shown.best) == [(0, 1), (2, 0)]  # the best text of each column is outlined
    assert shown.texts[:2] == ["0.10", "0.90"]  # small matrices write their scores
    assert "<b>barking</b>" not in html and "&lt;b&gt;barking&lt;/b&gt; &amp; howling" in html  # text is not markup
    assert "cosine -0.20" in html and "0.90" in html  # the legend spans the matrix


def test_big_matrices_keep_scores_in_tooltips_only_and_probabilities_use_fixed_bounds() -> None:
    side = int(np.sqrt(matrix_view.NUMBERS_MAX_CELLS)) + 1
    scores = np.random.default_rng(0).random((side, side))
    html = matrix_view.matrix_html(
        scores, [f"t{i}" for i in range(side)], [f"i{j}" for j in range(side)], title="T", value_name="P", bounds=(0, 1)
    )
    shown = read_matrix(html)
    assert shown.values.shape == (side, side) and set(shown.texts) == {""}
    assert "P 0.00" in html and "<span>1.00</span>" in html


def test_bad_matrices_and_cells_are_named() -> None:
    with pytest.raises(ValueError, match=r"a \(2, 2\) matrix for 3 rows and 2 columns"):
        matrix_view.matrix_html(np.zeros((2, 2)), ["a", "b", "c"], ["x", "y"], title="Text × image", value_name="c")
    empty = read_matrix(matrix_view.matrix_html(np.zeros((0, 2)), [], ["x", "y"], title="Text × audio", value_name="c"))
    assert empty.values.size == 0 and "nothing to compare" in empty.hint
    with pytest.raises(gr.Error, match=r"outside the 2 × 3 matrix"):
        matrix_view.picked_cell(gr.SelectData(None, {"index": [2, 0], "value": 0.1}), (2, 3))
    with pytest.raises(gr.Error, match=r"\(row, column\) cell"):
        matrix_view.picked_cell(gr.SelectData(None, {"index": 4, "value": 0.1}), (2, 3))
    assert matrix_view.picked_cell(gr.SelectData(None, {"index": [1, 2], "value": 0.1}), (2, 3)) == (1, 2)


def test_a_clicked_cell_names_that_pair_with_its_media(encoders: Encoders) -> None:
    example = next(e for e in bundled_examples() if e["images"] and e["audio"])
    comparison = compare(encoders, example["texts"], example["images"], example["audio"])
    last = len(comparison.texts) - 1

    image_pair = picked_pair(comparison, "text_image", gr.SelectData(None, {"index": [last, 1], "value": 0.0}))
    assert image_pair.modality == "image" and image_pair.text == comparison.texts[last].payload
    with Image.open(image_pair.path) as written:
        assert np.array_equal(np.asarray(written.convert("RGB")), np.asarray(comparison.images[1].payload))

    audio_pair = picked_pair(comparison, "text_audio", gr.SelectData(None, {"index": [0, 0], "value": 0.0}))
    samples, rate = sf.read(audio_pair.path, dtype="float32")
    wave = comparison.audio[0].payload
    assert audio_pair.modality == "audio" and rate == wave.sample_rate  # type: ignore[union-attr]
    np.testing.assert_allclose(samples, wave.samples, atol=1e-4)  # type: ignore[union-attr]

    with pytest.raises(gr.Error, match="Run a comparison first"):
        picked_pair(None, "text_image", gr.SelectData(None, {"index": [0, 0], "value": 0.0}))
    with pytest.raises(gr.Error, match="outside"):
        picked_pair(comparison, "text_audio", gr.SelectData(None, {"index": [0, 99], "value": 0.0}))
