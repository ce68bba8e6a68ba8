"""What a tag is: the four verdicts and custom tags, the entry of one error, and the checks every stored string
passes (lengths, Unicode, characters) before it reaches a database, a CSV or a page."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, get_args

Tag = Literal["model error", "data error", "ambiguous", "fixed"]
TAGS: tuple[str, ...] = get_args(Tag)  # the four verdicts every visitor has; custom tags come on top
CSV_COLUMNS = ("key", "tag", "note", "updated")
MAX_NOTE_CHARS = 2_000
MAX_TAG_CHARS = 40
MAX_KEY_CHARS = 2_100  # a direction, '|', and an id of up to 1,000 characters, with room to spare
_CUSTOM_TAG = re.compile(r"^[^\W_][\w .'()&/+-]*$")  # starts with a letter or digit: never a formula, never markup
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOTE_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # notes keep tabs and line breaks only


@dataclass(frozen=True)
class TagEntry:
    """A visitor's verdict on one error; `key` names the error (direction and query id, see `error_key`)."""

    key: str
    tag: str  # one of TAGS, or a custom tag (see `check_tag`)
    note: str
    updated: str  # ISO 8601, UTC


def error_key(direction: str, query_id: str) -> str:
    """Stable key of an error: one per (direction, query), e.g. 'text->image|a cat'."""
    return f"{direction}|{query_id}"


def check_tag(tag: object) -> str:
    """One of TAGS, or a custom tag of 1-40 letters, digits, spaces and - _ . ' ( ) & / + starting with a letter
    or digit; ValueError with the offending value otherwise."""
    if not isinstance(tag, str):
        raise ValueError(f"a tag must be a string, got {type(tag).__name__}")
    tag = unicodedata.normalize("NFC", tag.strip())
    if tag in TAGS:
        return tag
    if not tag:
        raise ValueError(f"a tag is needed (one of {', '.join(TAGS)}, or a custom tag)")
    if len(tag) > MAX_TAG_CHARS:
        raise ValueError(f"custom tag is {len(tag)} characters, over the limit of {MAX_TAG_CHARS}: {tag[:60]!r}")
    if _SURROGATE.search(tag) or not _CUSTOM_TAG.match(tag):
        raise ValueError(
            f"custom tag {_SURROGATE.sub('?', tag)!r} is refused: use letters, digits, spaces and - _ . ' ( ) & / +, "
            "starting with a letter or digit"
        )
    return tag


def check_note(note: object) -> str:
    """A note of at most MAX_NOTE_CHARS characters, valid Unicode, no control characters but tab and line breaks."""
    if note is None:
        return ""
    if not isinstance(note, str):
        raise ValueError(f"a note must be a string, got {type(note).__name__}")
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"note is {len(note)} characters, over the limit of {MAX_NOTE_CHARS}")
    if _SURROGATE.search(note):
        raise ValueError("note holds a lone surrogate: not valid Unicode")
    found = _NOTE_CONTROL.search(note)
    if found:
        raise ValueError(f"note holds the control character {found.group()!r}")
    return note


def check_key(key: object) -> str:
    """An error key: 1 to MAX_KEY_CHARS characters, valid Unicode, no NUL."""
    if not isinstance(key, str) or not key:
        raise ValueError("an error key is needed to tag an error")
    if len(key) > MAX_KEY_CHARS:
        raise ValueError(f"error key is {len(key):,} characters, over the limit of {MAX_KEY_CHARS:,}")
    if _SURROGATE.search(key) or "\x00" in key:
        raise ValueError(f"error key {_SURROGATE.sub('?', key)[:80]!r} is not valid text (surrogate or NUL)")
    return key
