"""md(): text from strangers shown in Markdown stays text: no markup, no links, no images, no code spans."""

from __future__ import annotations

import markdown_it

from ui.widgets.text import md

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "`rm -rf /` and ``double``",
    "**bold** _it_ ~~gone~~",
    "[click](javascript:alert(1)) ![img](http://x/y.png)",
    "bridge-laion_clap-htsat@0123abcd.safetensors",
    "https://example.com/a?b=c",
    "# heading\n- list\n> quote | table |",
]


def test_hostile_text_renders_as_the_same_text() -> None:
    render = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render
    for text in HOSTILE:
        html = render(md(text))
        assert "<img" not in html and "<a " not in html and "<code" not in html and "<strong" not in html
        assert "<em" not in html and "<h1" not in html and "<li" not in html and "<blockquote" not in html
        plain = " ".join(text.split())
        shown = html.replace("<p>", "").replace("</p>", "").strip()
        import html as html_lib

        assert html_lib.unescape(shown) == plain, (text, shown)
