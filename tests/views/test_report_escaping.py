"""The HTML report with hostile ids and captions: every dataset string is text, never markup or script."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from alignment.analysis.evaluate import evaluate
from alignment.inputs.embeddings import from_arrays
from alignment.views.report import write_report

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(2)</script>",
    "`code` and ```fence```",
    '" onmouseover="alert(3)',
    '=HYPERLINK("http://evil")',
]


def test_hostile_ids_render_as_text(tmp_path: Path) -> None:
    n = len(HOSTILE)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2 * n, 8)).astype(np.float32)  # random: every query has errors to list
    ids = HOSTILE + [f"image {t}" for t in HOSTILE]
    embedded = from_arrays(ids, ["text"] * n + ["image"] * n, [f"p{i}" for i in range(n)] * 2, vectors)
    evaluation = evaluate({"precomputed": embedded})
    assert evaluation.errors  # the error table holds hostile ids
    path = write_report(
        tmp_path / "report.html",
        evaluation,
        title="Report: <b>bold</b>",
        dataset={"name": "<script>alert(4)</script>.csv"},
        problems=["<img src=x onerror=alert(5)> could not be read"],
    )
    page = path.read_text(encoding="utf-8")
    for text in [*HOSTILE, "<script>alert(4)</script>", "<img src=x onerror=alert(5)>", "<b>bold</b>"]:
        if any(c in text for c in "<>\"'&"):
            assert text not in page, text  # never raw
    assert html.escape("<img src=x onerror=alert(1)>") in page  # shown, as text
    assert "<img src=x" not in page and "<script>alert" not in page  # not in the tables, not in the figures' JSON
    assert "\\u003c\\u002fscript\\u003e\\u003cscript\\u003ealert(2)" in page  # plotly's JSON escapes < / >
    assert page.count("<script") == page.count("</script>")  # no script was opened or closed by a string
