"""The old JSON tag store (kept for ui/errors until it switches, and as the source of `import_legacy`)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from alignment.store.legacy import TagStore
from alignment.store.tags import TAGS, error_key


def test_tags_survive_a_restart_and_export_to_csv(tmp_path) -> None:
    path = tmp_path / "tags" / "dataset.json"
    store = TagStore(path)
    store.set(error_key("text->image", "a cat"), "model error", "picks the dog photo")
    store.set(error_key("image->text", "cat.jpg"), "data error", 'caption, with "quotes"')
    store.set(error_key("text->image", "a cat"), "fixed")  # re-tag replaces

    reopened = TagStore(path)  # a new process reading the same file
    assert [(e.key, e.tag, e.note) for e in reopened.all()] == [
        ("image->text|cat.jpg", "data error", 'caption, with "quotes"'),
        ("text->image|a cat", "fixed", ""),
    ]
    rows = list(csv.DictReader(io.StringIO(reopened.to_csv())))
    assert [r["key"] for r in rows] == ["image->text|cat.jpg", "text->image|a cat"]
    assert rows[0]["note"] == 'caption, with "quotes"'
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]  # no temp files left behind


def test_bad_tags_change_nothing(tmp_path) -> None:
    store = TagStore(tmp_path / "t.json")
    store.set("k", "ambiguous", "first")
    with pytest.raises(ValueError, match="unknown tag 'wrong'"):
        store.set("k", "wrong")
    with pytest.raises(ValueError, match="over the limit"):
        store.set("k", "fixed", "x" * 5_000)
    assert store.get("k").tag == "ambiguous"
    assert json.loads((tmp_path / "t.json").read_text())["tags"][0]["note"] == "first"
    assert set(TAGS) == {"model error", "data error", "ambiguous", "fixed"}


def test_damaged_file_is_named(tmp_path) -> None:
    path = tmp_path / "t.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="t.json is damaged"):
        TagStore(path)


def test_remove(tmp_path) -> None:
    store = TagStore(tmp_path / "t.json")
    store.set("k", "fixed")
    store.remove("k")
    store.remove("missing")
    assert TagStore(tmp_path / "t.json").all() == []
