"""Output hygiene: formula-like CSV cells are neutralised and read back exactly; strangers' strings escaped for
Markdown and HTML render as the same text through a real CommonMark renderer, never as elements."""

from __future__ import annotations

import csv
import io

import pytest
from markdown_it import MarkdownIt

from alignment.core.errors import InputError
from alignment.core.hygiene import csv_cell, csv_text, csv_uncell, escape_html, escape_markdown
from alignment.core.names import display_name, shown, unicode_problem

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "`rm -rf` and ```fenced``` code",
    "[click](javascript:alert(1))",
    "**bold** _it_ # not a heading | not | a table",
    "<script>alert('x')</script> & &amp; &lt;",
    "![img](http://evil/x.png)",
    "line one\nline two",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_escape_renders_the_text_itself(text: str) -> None:
    rendered = MarkdownIt("commonmark").enable("table").render(escape_markdown(text))
    assert "<img" not in rendered and "<script" not in rendered and "<a " not in rendered
    assert "<code>" not in rendered and "<strong>" not in rendered and "<em>" not in rendered
    body = rendered.removeprefix("<p>").removesuffix("</p>\n")
    assert body == escape_html(text.replace("\n", " ")).replace("&#x27;", "'").replace("&quot;", '"')


def test_markdown_escape_inside_a_table_cell_stays_in_its_cell() -> None:
    cell = escape_markdown("a | b `c`")
    rendered = MarkdownIt("commonmark").enable("table").render(f"| id | tag |\n|---|---|\n| {cell} | x |\n")
    assert rendered.count("<td>") == 2 and "a | b `c`" in rendered


def test_html_escape() -> None:
    assert escape_html('<img src=x onerror="alert(1)">') == "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert escape_html("lone \ud800") == "lone \ufffd"


@pytest.mark.parametrize("text", ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx", "'=x", "''@x"])
def test_formula_cells_get_a_quote_and_read_back_exactly(text: str) -> None:
    cell = csv_cell(text)
    assert isinstance(cell, str) and cell.startswith("'")
    assert csv_uncell(cell) == text


@pytest.mark.parametrize("text", ["plain", "'quoted but harmless", "a=b", "", "'", "''"])
def test_harmless_cells_are_left_alone(text: str) -> None:
    assert csv_cell(text) == text and csv_uncell(text) == text


def test_numbers_stay_numbers_in_csv() -> None:
    rows = list(csv.reader(io.StringIO(csv_text(["id", "margin"], [["=cmd", -0.25], ["ok", 1]]))))
    assert rows == [["id", "margin"], ["'=cmd", "-0.25"], ["ok", "1"]]


def test_names_and_messages_are_printable() -> None:
    assert display_name("/tmp/gradio/0a1b2c/cat.jpg") == "cat.jpg"  # never the temp folder
    assert shown("a\x1b[31mred\u202egpj.exe\nnext") == "a\\x1b[31mred\\u202egpj.exe\\nnext"
    assert shown("bad \udcff name") == "bad \ufffd name"
    assert shown("x" * 300) == "x" * 199 + "…"
    assert unicode_problem("ok") is None
    assert "U+D800 at character 3" in unicode_problem("ab\ud800")  # type: ignore[operator]
    error = InputError("up\ud800load.png\n", "fake\nsecond line")
    assert str(error) == "up\ufffdload.png\\n: fake\\nsecond line"
    str(error).encode("utf-8")  # printable and encodable
