"""Strangers' strings made safe to show: lone surrogates, control and bidi characters, and over-long names."""

from __future__ import annotations

import os
import re
from pathlib import PurePath

MAX_SHOWN_CHARS = 200  # a name in a message or a label
_SURROGATE = re.compile("[\ud800-\udfff]")
# C0/C1 controls, line and paragraph separators, and bidi overrides (which can make 'gpj.exe' read 'exe.jpg')
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def lone_surrogate(text: str) -> int | None:
    """Index of the first lone surrogate (a string that is not valid Unicode and cannot be UTF-8 encoded)."""
    found = _SURROGATE.search(text)
    return None if found is None else found.start()


def unicode_problem(text: str, *, what: str = "text") -> str | None:
    """Why `text` cannot be used as Unicode (a lone surrogate from JSON '\\ud800' or a browser), or None."""
    index = lone_surrogate(text)
    if index is None:
        return None
    return (
        f"{what} holds a lone surrogate U+{ord(text[index]):04X} at character {index + 1}: "
        "not valid Unicode (it cannot be encoded as UTF-8)"
    )


def shown(text: object, *, limit: int = MAX_SHOWN_CHARS) -> str:
    """A string fit for one line of a message or a label: surrogates become U+FFFD, control and bidi characters
    their escapes (\\n, \\x1b, \\u202e), and anything past `limit` characters is cut with an ellipsis."""
    out = _SURROGATE.sub("\ufffd", str(text))
    out = _UNSHOWABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), out)
    return out if len(out) <= limit else out[: max(limit - 1, 0)] + "…"


def display_name(path: str | os.PathLike[str]) -> str:
    """The name to show for a file: its last path part only (never the folder it sits in), made `shown`."""
    raw = os.fspath(path)
    return shown(PurePath(raw).name or raw)
