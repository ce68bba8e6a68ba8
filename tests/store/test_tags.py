"""The tag database: owners see only their own tags, strings are validated, CSV export neutralises formulas and
imports back exactly, old JSON files import once, and the data directory is a setting."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest

from alignment.core.deployment import default_data_dir
from alignment.store.legacy import TagStore
from alignment.store.tags import DB_NAME, TAGS, TagDatabase, dataset_digest, error_key

DATASET = "0123456789abcdef"


@pytest.fixture
def db(tmp_path: Path) -> TagDatabase:
    return TagDatabase(tmp_path / "data")


def test_tags_survive_a_new_database_object_and_export_to_csv(db: TagDatabase) -> None:
    tags = db.tags(owner="alice", dataset=DATASET)
    tags.set(error_key("text->image", "a cat"), "model error", "picks the dog photo")
    tags.set(error_key("image->text", "cat.jpg"), "data error", 'caption, with "quotes"')
    tags.set(error_key("text->image", "a cat"), "fixed")  # re-tag replaces

    again = TagDatabase(db.data_dir).tags(owner="alice", dataset=DATASET)  # another request, or another process
    assert [(e.key, e.tag, e.note) for e in again.all()] == [
        ("image->text|cat.jpg", "data error", 'caption, with "quotes"'),
        ("text->image|a cat", "fixed", ""),
    ]
    assert again.labels() == {"image->text|cat.jpg": "data error", "text->image|a cat": "fixed"}
    rows = list(csv.DictReader(io.StringIO(again.to_csv())))
    assert [r["key"] for r in rows] == ["image->text|cat.jpg", "text->image|a cat"]
    assert rows[0]["note"] == 'caption, with "quotes"'
    assert sorted(p.name for p in db.data_dir.iterdir()) <= [DB_NAME, f"{DB_NAME}-shm", f"{DB_NAME}-wal"]


def test_a_visitor_sees_only_their_own_tags(db: TagDatabase) -> None:
    alice, bob = db.tags(owner="alice", dataset=DATASET), db.tags(owner="bob", dataset=DATASET)
    alice.set("text->image|a cat", "model error", "alice's private note")
    assert bob.get("text->image|a cat") is None and bob.all() == []
    bob.set("text->image|a cat", "ambiguous", "bob's")
    assert alice.get("text->image|a cat").tag == "model error"  # nobody overwrites another's tag
    assert bob.get("text->image|a cat").note == "bob's"
    assert db.tags(owner="alice", dataset="fedcba9876543210").all() == []  # datasets are apart too
    assert db.datasets(owner="alice") == {DATASET: 1}
    assert b"alice" not in (db.data_dir / DB_NAME).read_bytes()  # owners are stored hashed


def test_custom_tags_and_bad_strings(db: TagDatabase) -> None:
    tags = db.tags(owner="alice", dataset=DATASET)
    tags.set("k", "ambiguous", "first")
    assert tags.set("k2", "needs review").tag == "needs review"
    assert tags.set("k3", "  Ünïcode tag (v2)  ").tag == "Ünïcode tag (v2)"
    refused = {
        "wrong=1": r"custom tag 'wrong=1' is refused",
        "=HYPERLINK(1)": r"is refused: use letters",
        "<img src=x>": r"is refused",
        "x" * 41: r"41 characters, over the limit of 40",
        "": r"a tag is needed",
        "bad\ud800": r"is refused",
    }
    for tag, message in refused.items():
        with pytest.raises(ValueError, match=message):
            tags.set("k", tag)
    with pytest.raises(ValueError, match="over the limit of 2000"):
        tags.set("k", "fixed", "x" * 5_000)
    with pytest.raises(ValueError, match="lone surrogate"):
        tags.set("k", "fixed", "note \udc80")
    with pytest.raises(ValueError, match="control character"):
        tags.set("k", "fixed", "bell \x07")
    with pytest.raises(ValueError, match="over the limit of 2,100"):
        tags.set("k" * 3_000, "fixed")
    with pytest.raises(ValueError, match="an error key is needed"):
        tags.set("", "fixed")
    with pytest.raises(ValueError, match="an owner id is needed"):
        db.tags(owner=" ", dataset=DATASET)
    with pytest.raises(ValueError, match="dataset digest"):
        db.tags(owner="alice", dataset="../../etc")
    assert tags.get("k").tag == "ambiguous" and tags.get("k").note == "first"  # nothing changed
    assert set(TAGS) == {"model error", "data error", "ambiguous", "fixed"}


def test_bulk_tagging_is_one_transaction(db: TagDatabase) -> None:
    tags = db.tags(owner="alice", dataset=DATASET)
    keys = [f"text->image|caption {i}" for i in range(500)]
    assert tags.set_many(keys, "data error", "bad captions") == 500
    assert len(tags.all()) == 500 and tags.get(keys[123]).note == "bad captions"
    with pytest.raises(ValueError, match="an error key is needed"):
        tags.set_many(["fresh 1", "fresh 2", ""], "fixed")  # one bad key: none of them is saved
    assert tags.get("fresh 1") is None
    assert tags.remove_many(keys[:100] + ["never tagged"]) == 100
    assert tags.remove(keys[100]) and not tags.remove(keys[100])
    assert len(tags.all()) == 399


def test_csv_export_neutralises_formulas_and_imports_back_exactly(db: TagDatabase) -> None:
    alice = db.tags(owner="alice", dataset=DATASET)
    notes = {
        "text->image|=1+1": '=HYPERLINK("http://evil","click")',
        "text->image|+a": "+cmd|' /C calc'!A0",
        "text->image|-a": "-2+3",
        "text->image|@a": "@SUM(A1)",
        "text->image|tab": "\tleading tab",
        "text->image|quote": "'=already quoted",
        "text->image|plain": "plain note, with a comma",
        "text->image|lines": "two\nlines",
    }
    for key, note in notes.items():
        alice.set(key, "model error", note)
    exported = alice.to_csv()
    for row in csv.reader(io.StringIO(exported)):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell  # no cell a spreadsheet would run
    bob = db.tags(owner="bob", dataset=DATASET)
    report = bob.import_csv(exported)
    assert (report.added, report.replaced, report.problems) == (len(notes), 0, ())
    assert {e.key: e.note for e in bob.all()} == {k: n.strip() for k, n in notes.items()}
    again = bob.import_csv(exported)
    assert (again.added, again.replaced) == (0, len(notes))


def test_import_reports_bad_rows_alone(db: TagDatabase) -> None:
    tags = db.tags(owner="alice", dataset=DATASET)
    text = (
        "key,tag,note\n"
        "good 1,fixed,ok\n"
        "bad tag,<script>alert(1)</script>,x\n"
        f'long,fixed,"{"x" * 200_000}"\n'
        ",fixed,no key\n"
        "good 2,ambiguous,\n"
    )
    report = tags.import_csv(text, name="shared.csv")
    assert report.added == 2 and [e.key for e in tags.all()] == ["good 1", "good 2"]
    assert report.problems[0].startswith("shared.csv line 3: custom tag '<script>alert(1)</script>' is refused")
    assert report.problems[1].startswith("shared.csv line 4: not valid CSV (field larger than field limit")
    assert report.problems[2] == "shared.csv line 5: an error key is needed to tag an error"
    with pytest.raises(ValueError, match=r"shared.csv line 1: a tags CSV needs the columns key and tag"):
        tags.import_csv("a,b\n1,2\n", name="shared.csv")


def test_old_json_files_import_once_and_stay(db: TagDatabase, tmp_path: Path) -> None:
    folder = tmp_path / "tags"
    old = TagStore(folder / f"paired-{DATASET}.json")
    old.set("text->image|a cat", "model error", "from the JSON era")
    old.set("text->image|a dog", "fixed")
    (folder / "other-0000000000000000.json").write_text("{damaged")
    tags = db.tags(owner="local", dataset=DATASET)
    tags.set("text->image|a dog", "ambiguous", "newer, in the database")

    report = db.import_legacy(folder, owner="local")
    assert report.added == 1 and len(report.problems) == 1 and "damaged" in report.problems[0]
    assert tags.get("text->image|a cat").note == "from the JSON era"
    assert tags.get("text->image|a dog").tag == "ambiguous"  # the database wins
    tags.remove("text->image|a cat")
    assert db.import_legacy(folder, owner="local").added == 0  # once: a removed tag does not come back
    assert (folder / f"paired-{DATASET}.json").exists()  # left where it was
    assert db.tags(owner="someone else", dataset=DATASET).all() == []


def test_data_dir_setting_and_damaged_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIGN_DATA", str(tmp_path / "bucket"))
    assert TagDatabase().path == tmp_path / "bucket" / DB_NAME
    monkeypatch.delenv("ALIGN_DATA")
    monkeypatch.setenv("ALIGN_CACHE", str(tmp_path / "cache"))
    assert default_data_dir() == tmp_path / "cache" / "data"  # beside the cache by default
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match=r"tags.sqlite3 cannot be opened .*move it away"):
        TagDatabase(damaged)


def test_dataset_digest_matches_the_old_file_names(tmp_path: Path) -> None:
    path = tmp_path / "paired.csv"
    path.write_bytes(b"id,text\n1,a cat\n")
    import hashlib

    assert dataset_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def test_wal_and_full_sync_are_on(db: TagDatabase) -> None:
    raw = sqlite3.connect(db.path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()
    connection = db._connection()
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_bulk_retagging_keeps_each_note(db: TagDatabase) -> None:
    tags = db.tags(owner="alice", dataset=DATASET)
    tags.set("text->image|a", "ambiguous", "two dogs, one caption")
    assert tags.tag_many(["text->image|a", "text->image|b", "text->image|a"], "model error") == 2
    assert tags.get("text->image|a").tag == "model error" and tags.get("text->image|a").note == "two dogs, one caption"
    assert tags.get("text->image|b").note == ""
    with pytest.raises(ValueError, match="custom tag"):
        tags.tag_many(["text->image|c"], "=cmd()")
    assert tags.get("text->image|c") is None
    assert db.tags(owner="bob", dataset=DATASET).labels() == {}
