"""Figure builders: labels reach plotly as text, never as markup, and attention maps are drawn as given."""

from __future__ import annotations

import numpy as np
import pytest

from alignment.views import figures


def test_labels_are_text_not_plotly_markup() -> None:
    bars = figures.token_bars([("<s>", 0.5), ("a&b", -0.1), ("</s>", 0.2)])
    assert list(bars.layout.xaxis.ticktext) == ["&lt;s&gt;", "a&amp;b", "&lt;/s&gt;"]
    heat = figures.heatmap(np.eye(2), ["<b>bold</b> claim", "plain"], ["x.png", "y.png"], title="T")
    assert heat.data[0].y[0] == "&lt;b&gt;bold&lt;/b&gt; claim"
    assert heat.data[0].customdata[0][0][0] == "&lt;b&gt;bold&lt;/b&gt; claim"


def test_attention_heatmap_draws_the_map_and_outlines_the_pooled_row() -> None:
    matrix = np.full((3, 3), 1 / 3, dtype=np.float32)
    fig = figures.attention_heatmap(matrix, ["<s>", "rain", "</s>"], title="clap-text", pooled=0)
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), matrix)
    assert list(fig.data[0].x) == ["0:&lt;s&gt;", "1:rain", "2:&lt;/s&gt;"]
    (outline,) = fig.layout.shapes
    assert (outline.y0, outline.y1) == (-0.5, 0.5)  # row 0: the pooled token
    with pytest.raises(ValueError, match=r"\(T, T\) with T labels"):
        figures.attention_heatmap(matrix, ["a", "b"], title="x")
