"""Hand tags on alignment errors in SQLite: one database in the data directory, rows keyed by owner + dataset
digest + error key, so each visitor sees only their own tags; shared by CSV export and import.

Safe with many threads and processes: WAL journal, a busy timeout, one connection per thread and process,
and short `BEGIN IMMEDIATE` transactions (a bulk change is one transaction). `synchronous=FULL`: a tag whose
call returned is on disk, through `kill -9` and power loss. Owners are stored hashed, never as given (a
browser-kept id is a secret). Old per-dataset JSON files (`legacy.TagStore`) are left where they are; a
single-user deployment imports them once into its local owner with `import_legacy`; a public one must not
(they were shared by every visitor).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..core.deployment import default_data_dir
from ..core.hygiene import csv_text, csv_uncell
from .entries import CSV_COLUMNS, TAGS, Tag, TagEntry, check_key, check_note, check_tag, error_key
from .legacy import LEGACY_NAME, TagStore, read_legacy

__all__ = ["TAGS", "Tag", "TagDatabase", "TagEntry", "OwnerTags", "ImportReport", "TagStore", "error_key"]

DB_NAME = "tags.sqlite3"
MAX_OWNER_CHARS = 256
MAX_IMPORT_MB = 10.0  # a tags CSV to import
MAX_IMPORT_ROWS = 50_000
_DATASET = re.compile(r"^[0-9A-Za-z._-]{1,128}$")
_POOL = threading.local()  # per thread: database path -> (pid, connection)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tags (
    owner TEXT NOT NULL,      -- sha256 of the owner id, see owner_key
    dataset TEXT NOT NULL,    -- digest of the dataset's bytes, see dataset_digest
    key TEXT NOT NULL,        -- error_key(direction, query id)
    tag TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    updated TEXT NOT NULL,    -- ISO 8601, UTC
    PRIMARY KEY (owner, dataset, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS legacy_imports (
    owner TEXT NOT NULL,
    file TEXT NOT NULL,
    imported TEXT NOT NULL,
    PRIMARY KEY (owner, file)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class ImportReport:
    """What an import did: tags added, tags replaced, and one message per row (or file) that was refused."""

    added: int
    replaced: int
    problems: tuple[str, ...] = ()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def owner_key(owner: str) -> str:
    """What the database stores for an owner: a SHA-256, so a copy of the file does not give away browser ids."""
    if not isinstance(owner, str) or not owner.strip():
        raise ValueError("an owner id is needed (the Hugging Face user name, or the id kept in the browser)")
    if len(owner) > MAX_OWNER_CHARS:
        raise ValueError(f"owner id is {len(owner)} characters, over the limit of {MAX_OWNER_CHARS}")
    data = owner.encode("utf-8", "surrogatepass")  # an odd id still names one owner
    return hashlib.sha256(b"alignment-tags-owner\0" + data).hexdigest()


def dataset_digest(path: str | os.PathLike[str]) -> str:
    """The dataset part of a tag's key: the first 16 hex digits of the SHA-256 of the file's bytes (the form
    the old JSON file names used, so they import under the same dataset)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _check_dataset(dataset: str) -> str:
    if not isinstance(dataset, str) or not _DATASET.match(dataset):
        raise ValueError(f"dataset digest must be 1-128 letters, digits, '.', '_' or '-', got {dataset!r:.80}")
    return dataset


class TagDatabase:
    """The tags database `data_dir/tags.sqlite3` (data_dir: the argument, else $ALIGN_DATA, else `data` beside
    the cache). Cheap to build per request; `tags(owner=..., dataset=...)` gives one visitor's tags of one dataset."""

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, *, timeout: float = 30.0) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.path = self.data_dir / DB_NAME
        self.timeout = timeout  # seconds a writer waits for another's transaction before giving up
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._transaction() as db:
            db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")

    # ---------------------------------------------------------------- connections

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection to this file in this process, shared by every TagDatabase of the same path
        (a request may build its own object cheaply); a connection never crosses a thread or a fork."""
        pool: dict[str, tuple[int, sqlite3.Connection]] = _POOL.__dict__.setdefault("connections", {})
        held = pool.get(str(self.path))
        if held is not None and held[0] == os.getpid():
            return held[1]
        try:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)  # explicit BEGINs
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            db.execute("PRAGMA synchronous=FULL")  # acknowledged = on disk (WAL + NORMAL could lose it on power loss)
            db.execute("PRAGMA temp_store=MEMORY")  # no temp files beside the database
        except sqlite3.DatabaseError as exc:
            message = f"tag database {self.path} cannot be opened ({exc}); move it away to start afresh"
            raise ValueError(message) from None
        if mode.lower() != "wal":  # a filesystem without shared memory (some network mounts): rollback journal
            db.execute("PRAGMA journal_mode=DELETE")
        pool[str(self.path)] = (os.getpid(), db)
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        try:
            yield db
        except sqlite3.DatabaseError as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise OSError(f"tag database {self.path}: {exc}") from exc
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (BEGIN IMMEDIATE: the write lock is taken up front, so no deadlock)."""
        with self._transaction() as db:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")

    def read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._transaction() as db:
            return db.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close this thread's connection to the file (those of other threads close when the threads end)."""
        held = _POOL.__dict__.get("connections", {}).pop(str(self.path), None)
        if held is not None and held[0] == os.getpid():
            held[1].close()

    # ---------------------------------------------------------------- views

    def tags(self, *, owner: str, dataset: str) -> OwnerTags:
        """One owner's tags of one dataset (`dataset_digest` of the file): all a visitor ever reads or writes."""
        return OwnerTags(self, owner_key(owner), _check_dataset(dataset))

    def datasets(self, *, owner: str) -> dict[str, int]:
        """Dataset digest -> number of tags, for one owner."""
        rows = self.read(
            "SELECT dataset, COUNT(*) FROM tags WHERE owner = ? GROUP BY dataset ORDER BY dataset", (owner_key(owner),)
        )
        return {dataset: count for dataset, count in rows}

    def import_legacy(self, folder: str | os.PathLike[str], *, owner: str) -> ImportReport:
        """Copy the old per-dataset JSON files of `folder` ('<stem>-<16 hex>.json') into `owner`'s tags, once per
        file and owner; tags already in the database win. The JSON files are left untouched."""
        key = owner_key(owner)
        folder = Path(folder)
        files = sorted(p for p in folder.glob("*.json") if LEGACY_NAME.match(p.name)) if folder.is_dir() else []
        added = 0
        problems: list[str] = []
        for path in files:
            try:
                entries = read_legacy(path)
            except (ValueError, OSError) as exc:
                problems.append(str(exc))
                continue
            dataset = LEGACY_NAME.match(path.name).group("digest")  # type: ignore[union-attr]
            with self.write() as db:
                if db.execute("SELECT 1 FROM legacy_imports WHERE owner = ? AND file = ?", (key, path.name)).fetchone():
                    continue
                for entry in entries.values():
                    try:
                        row = (check_key(entry.key), check_tag(entry.tag), check_note(entry.note))
                    except ValueError as exc:
                        problems.append(f"{path.name}: {exc}")
                        continue
                    cursor = db.execute(
                        "INSERT OR IGNORE INTO tags (owner, dataset, key, tag, note, updated) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (key, dataset, *row, entry.updated or _now()),
                    )
                    added += cursor.rowcount
                db.execute(
                    "INSERT INTO legacy_imports (owner, file, imported) VALUES (?, ?, ?)", (key, path.name, _now())
                )
        return ImportReport(added, 0, tuple(problems))


class OwnerTags:
    """One owner's tags of one dataset. Every call is its own short transaction; nothing is cached, so another
    thread, tab or server process sees a change as soon as the call that made it returns."""

    def __init__(self, db: TagDatabase, owner: str, dataset: str) -> None:
        self.db, self.owner, self.dataset = db, owner, dataset

    def get(self, key: str) -> TagEntry | None:
        rows = self.db.read(
            "SELECT key, tag, note, updated FROM tags WHERE owner = ? AND dataset = ? AND key = ?",
            (self.owner, self.dataset, key),
        )
        return TagEntry(*rows[0]) if rows else None

    def all(self) -> list[TagEntry]:
        """Every tag, ordered by key."""
        rows = self.db.read(
            "SELECT key, tag, note, updated FROM tags WHERE owner = ? AND dataset = ? ORDER BY key",
            (self.owner, self.dataset),
        )
        return [TagEntry(*row) for row in rows]

    def labels(self) -> dict[str, str]:
        """Error key -> tag, for filtering a table of errors in one query."""
        return {entry.key: entry.tag for entry in self.all()}

    def set(self, key: str, tag: str, note: str = "") -> TagEntry:
        """Tag (or re-tag) one error; a bad key, tag or note is refused (ValueError) and nothing changes."""
        entry = TagEntry(check_key(key), check_tag(tag), check_note(note), _now())
        with self.db.write() as db:
            self._upsert(db, entry)
        return entry

    def set_many(self, keys: Iterable[str], tag: str, note: str = "") -> int:
        """Give many errors one tag (and note) in one transaction: all are saved or none. Returns the count."""
        tag, note, updated = check_tag(tag), check_note(note), _now()
        entries = [TagEntry(check_key(key), tag, note, updated) for key in dict.fromkeys(keys)]
        with self.db.write() as db:
            for entry in entries:
                self._upsert(db, entry)
        return len(entries)

    def tag_many(self, keys: Iterable[str], tag: str) -> int:
        """Give many errors one tag in one transaction, keeping each one's note (what bulk tagging in a grid or
        a lasso does). Returns the count."""
        tag, updated = check_tag(tag), _now()
        checked = [check_key(key) for key in dict.fromkeys(keys)]
        with self.db.write() as db:
            for key in checked:
                db.execute(
                    "INSERT INTO tags (owner, dataset, key, tag, note, updated) VALUES (?, ?, ?, ?, '', ?) "
                    "ON CONFLICT (owner, dataset, key) DO UPDATE SET tag = excluded.tag, updated = excluded.updated",
                    (self.owner, self.dataset, key, tag, updated),
                )
        return len(checked)

    def remove(self, key: str) -> bool:
        """Forget the tag of one error; False when it had none."""
        return self.remove_many([key]) == 1

    def remove_many(self, keys: Iterable[str]) -> int:
        """Forget the tags of many errors in one transaction; returns how many there were."""
        removed = 0
        with self.db.write() as db:
            for key in dict.fromkeys(keys):
                removed += db.execute(
                    "DELETE FROM tags WHERE owner = ? AND dataset = ? AND key = ?", (self.owner, self.dataset, key)
                ).rowcount
        return removed

    def to_csv(self) -> str:
        """All tags as CSV (key, tag, note, updated); cells a spreadsheet would run as formulas are quoted."""
        return csv_text(CSV_COLUMNS, ([e.key, e.tag, e.note, e.updated] for e in self.all()))

    def import_csv(self, text: str, *, name: str = "tags.csv") -> ImportReport:
        """Tags from a CSV that `to_csv` wrote (columns key and tag; note optional). Good rows are saved in one
        transaction, replacing this owner's tag of the same error; each bad row is one problem naming its line."""
        if len(text) > MAX_IMPORT_MB * 1e6:
            raise ValueError(f"{name}: {len(text) / 1e6:.1f} MB, over the limit of {MAX_IMPORT_MB:g} MB for a tags CSV")
        entries, problems = _parse_csv(text, name)
        added = replaced = 0
        updated = _now()
        with self.db.write() as db:
            for entry in entries.values():
                existed = db.execute(
                    "SELECT 1 FROM tags WHERE owner = ? AND dataset = ? AND key = ?",
                    (self.owner, self.dataset, entry.key),
                ).fetchone()
                self._upsert(db, TagEntry(entry.key, entry.tag, entry.note, updated))
                replaced += existed is not None
                added += existed is None
        return ImportReport(added, replaced, tuple(problems))

    def _upsert(self, db: sqlite3.Connection, entry: TagEntry) -> None:
        db.execute(
            "INSERT INTO tags (owner, dataset, key, tag, note, updated) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (owner, dataset, key) DO UPDATE SET tag = excluded.tag, note = excluded.note, "
            "updated = excluded.updated",
            (self.owner, self.dataset, entry.key, entry.tag, entry.note, entry.updated),
        )


def _parse_csv(text: str, name: str) -> tuple[dict[str, TagEntry], list[str]]:
    """Validated entries by key (a later row for the same key wins) and one problem per refused row."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
    except csv.Error as exc:
        raise ValueError(f"{name} line 1: not valid CSV ({exc})") from None
    if "key" not in header or "tag" not in header:
        raise ValueError(f"{name} line 1: a tags CSV needs the columns key and tag (got {', '.join(header)[:200]})")
    at = {column: header.index(column) for column in CSV_COLUMNS if column in header}
    entries: dict[str, TagEntry] = {}
    problems: list[str] = []
    line = previous = reader.line_num
    rows = 0
    while True:
        line = previous + 1
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            if reader.line_num == previous:
                break
            previous = reader.line_num
            problems.append(f"{name} line {line}: not valid CSV ({exc})")
            continue
        previous = reader.line_num
        if cells is None:
            break
        if not any(cell.strip() for cell in cells):
            continue
        rows += 1
        if rows > MAX_IMPORT_ROWS:
            problems.append(f"{name} line {line}: over the limit of {MAX_IMPORT_ROWS:,} rows; the rest was skipped")
            break
        value = {column: csv_uncell(cells[i]) if i < len(cells) else "" for column, i in at.items()}
        try:
            entry = TagEntry(check_key(value["key"]), check_tag(value["tag"]), check_note(value.get("note", "")), "")
        except ValueError as exc:
            problems.append(f"{name} line {line}: {exc}")
            continue
        entries[entry.key] = entry
    return entries, problems
