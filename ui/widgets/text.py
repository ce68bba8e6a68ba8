"""Text from strangers (ids, captions, file names, notes) made safe to show in Markdown: nothing in it becomes
markup, a link or an image; it reads as typed."""

from __future__ import annotations

import html
import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~>:@])")  # not . or -: file names stay readable


def md(text: object) -> str:
    """`text` as literal Markdown: HTML escaped, Markdown punctuation backslash-escaped (so no emphasis, no code
    span, no link, no autolink: 'user@host' and 'http://x' stay plain text), newlines become spaces."""
    escaped = html.escape(str(text), quote=False)
    return _MARKDOWN.sub(r"\\\1", " ".join(escaped.split()))
