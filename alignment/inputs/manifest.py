"""Manifests of paired datasets: CSV or JSONL rows validated into `Record`s (nothing is decoded here).

Manifest forms, told apart by the header (CSV: the first line; JSONL: the keys of all objects):

* long: the header has `modality` or `content`; it must then have `id, modality, content, pair`
  (`label` optional, other columns ignored). One record per row; `modality` is text, image or audio;
  `content` is the text itself, or a path relative to the dataset root.
* wide: otherwise. One row per pair; columns are recognised by name (case-insensitive, spaces and
  hyphens read as `_`); other columns (Clotho's `split`) are ignored:
    text   `text`, `caption`, `captions`, numbered `caption_1`, `caption2`, `text_3` ... (JSONL: a string
           or a list of strings)
    image  `image`, `img`, `image_path`, `image_file`, `image_name`, numbered `image_1` ...
    audio  `audio`, `sound`, `audio_path`, `audio_file`, `audio_name`, numbered `audio_1` ...
    file   `file_name`, `filename`, `file`, `fname`, `path`, `file_path`: image or audio by the file's
           suffix (.wav .flac .ogg .oga .mp3 -> audio; .png .jpg .jpeg .bmp .webp .gif -> image)
  The pair key is the `pair` column, else `id`, else the first file named in the row (Clotho: the
  audio file name), else `line N`. A record's id is the row's key (`id`, else the pair key) when the
  header has one column that can hold that modality, else `key:column` (`key:column[i]` for the i-th
  entry of a JSONL list). An empty cell is an absent item, not an error.
  A header with no recognised column is an error.

Rules shared by both forms:
* Line numbers: CSV counts physical lines with the header as line 1 (a quoted caption spanning two
  lines counts two); JSONL counts every line, blank ones included.
* Ids are unique within a modality (the same id may name a text and its image: wide-form ids are pair
  keys); a later duplicate is a bad row.
* Paths are relative, `/` or `\\` separated; refused: `..`, absolute, `C:` drive and `\\\\server` UNC
  forms, and anything (symlinks followed) that resolves outside the root. An image or audio path not
  found at `root/path` is looked up in `root/images/path` or `root/audio/path` (Clotho's layout).
* A bad row is skipped with one message (`on_error="skip"`) or raises InputError (`"stop"`); the
  whole row goes, so a wide row never leaves half a pair. A manifest whose header cannot be read, or
  a dataset with no records or no pair key shared by two modalities, always raises.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import reprlib
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, cast

from ..core.errors import InputError
from ..core.names import shown, unicode_problem
from . import archive as archive_io
from .archive import UnsafePath
from .audio import AUDIO_SUFFIXES
from .items import MAX_ID_CHARS, MODALITIES, Modality, count_true_pairs
from .limits import DEFAULT_DATASET_LIMITS, DatasetLimits

OnError = Literal["skip", "stop"]
Form = Literal["long", "wide"]
PathLike = str | os.PathLike

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")
MANIFEST_SUFFIXES = (".csv", ".jsonl")
MEDIA_SUBFOLDERS: Mapping[str, tuple[str, ...]] = {"image": ("images",), "audio": ("audio",)}
LONG_COLUMNS = ("id", "modality", "content", "pair")
MAX_JSON_DEPTH = 64  # a manifest row is a flat object (lists of captions at most); Python's parser stops near 1000
_TEXT_COLUMN = re.compile(r"^(text|captions?)(_?\d+)?$")
_IMAGE_COLUMN = re.compile(r"^(image|img)(_?\d+|_path|_file|_name)?$")
_AUDIO_COLUMN = re.compile(r"^(audio|sound)(_?\d+|_path|_file|_name)?$")
_FILE_COLUMNS = frozenset({"file_name", "filename", "file", "fname", "path", "file_path"})


@dataclass(frozen=True)
class Record:
    """One manifest entry, validated but not decoded: a text, or a resolved path inside the dataset root."""

    id: str  # unique within its modality
    modality: Modality
    content: str | Path  # the text itself, or the resolved file path (image, audio)
    pair: str  # group key: records of different modalities with one key are true pairs
    label: str | None
    line: int  # manifest line the row starts on (CSV: header = 1)


@dataclass(frozen=True)
class Dataset:
    """A validated manifest: its records, and one message per row that was skipped."""

    manifest: Path
    root: Path  # relative paths resolve here and must stay inside it
    name: str  # how messages name the manifest ('captions.csv', 'upload.zip:manifest.csv')
    form: Form
    records: tuple[Record, ...]
    problems: tuple[str, ...] = ()
    extracted: Path | None = None  # temp folder a zip was unpacked into; see `cleanup`

    def by_modality(self, modality: Modality) -> tuple[Record, ...]:
        """The records of one modality, in manifest order."""
        return tuple(record for record in self.records if record.modality == modality)

    def counts(self) -> dict[Modality, int]:
        """Records per modality (modalities with none are left out)."""
        out: dict[Modality, int] = {}
        for record in self.records:
            out[record.modality] = out.get(record.modality, 0) + 1
        return out

    def true_pairs(self) -> dict[tuple[Modality, Modality], int]:
        """For each modality pair (in MODALITIES order), how many pair keys join records of both."""
        return _true_pairs(self.records)

    def cleanup(self) -> None:
        """Delete the temp folder a zip was extracted into (records' paths then stop existing)."""
        if self.extracted is not None:
            shutil.rmtree(self.extracted, ignore_errors=True)


class _Bad(Exception):
    """A row-level problem; the message is completed with the manifest name and line."""


# ---------------------------------------------------------------------------- reading a manifest


def read_manifest(
    path: PathLike,
    *,
    root: PathLike | None = None,
    on_error: OnError = "skip",
    limits: DatasetLimits = DEFAULT_DATASET_LIMITS,
    name: str | None = None,
    require_pairs: bool = True,
) -> Dataset:
    """Parse and validate a CSV or JSONL manifest; paths resolve against `root` (default: the manifest's folder).

    `require_pairs=False` accepts a dataset with no true pair (a gallery to embed, not to evaluate)."""
    if on_error not in ("skip", "stop"):
        raise ValueError(f"on_error must be 'skip' or 'stop', got {on_error!r}")
    path = Path(path)
    name = name or path.name
    suffix = path.suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise InputError(name, f"a manifest must be .csv or .jsonl, got '{path.suffix or path.name}'")
    try:
        size = path.stat().st_size
        if size > limits.max_manifest_mb * 1e6:
            raise InputError(name, f"manifest is {size / 1e6:.1f} MB, over the limit of {limits.max_manifest_mb:g} MB")
        text = path.read_bytes().decode("utf-8-sig")
        base = Path(root if root is not None else path.parent).resolve(strict=True)
    except UnicodeDecodeError as exc:
        raise InputError(name, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or exc})") from None
    if not base.is_dir():
        raise InputError(name, f"dataset root '{shown(base.name)}' is not a folder")

    columns, rows = _csv_rows(text, name) if suffix == ".csv" else _jsonl_rows(text, name)
    form = _detect_form(columns, f"{name} line 1" if suffix == ".csv" else name)
    parser = _Parser(name=name, root=base, columns=columns, form=form, on_error=on_error)
    count = 0
    for line, row in rows:
        count += 1
        if count > limits.max_rows:
            parser.bad(line, f"over the limit of {limits.max_rows} rows; this row and later ones were skipped")
            break
        parser.row(line, row)
    dataset = Dataset(path, base, name, form, tuple(parser.records), tuple(parser.problems))
    _check_usable(dataset, require_pairs=require_pairs)
    return dataset


# ---------------------------------------------------------------------------- reading rows

Row = dict[str, object] | _Bad  # a row's values by normalised column name, or why it cannot be read


def _norm(column: str) -> str:
    return re.sub(r"[\s\-]+", "_", column.strip().lower())


def _csv_rows(text: str, name: str) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    """The normalised header and the data rows, each with the physical line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"{name} line 1", f"not valid CSV ({exc})") from None
    if header is None or not any(cell.strip() for cell in header):
        raise InputError(name, "manifest is empty (no header line)")
    columns = [_norm(cell) for cell in header]
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        raise InputError(f"{name} line 1", f"header repeats column(s) {', '.join(repeated)}")

    def rows() -> Iterator[tuple[int, Row]]:
        previous = reader.line_num
        while True:
            start = previous + 1
            try:
                cells = next(reader, None)
            except csv.Error as exc:  # a field over csv's 131,072-character limit, a NUL: this row only
                if reader.line_num == previous:  # nothing consumed: stop rather than loop
                    return
                previous = reader.line_num
                yield start, _Bad(f"not valid CSV ({exc})")
                continue
            previous = reader.line_num
            if cells is None:
                return
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                yield (
                    start,
                    _Bad(f"row has {len(cells)} cells, the header has {len(columns)} (quote cells holding commas)"),
                )
                continue
            yield start, {c: cell for c, cell in zip(columns, cells, strict=True) if c}

    return columns, rows()


def _jsonl_rows(text: str, name: str) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    """Every non-blank line parsed; the 'header' is the union of the objects' keys, in first-seen order."""
    parsed: list[tuple[int, Row]] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue  # parse the line unstripped so JSON's column numbers match the file
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.append((number, _Bad(f"not valid JSON ({exc.msg} at column {exc.colno})")))
            continue
        except RecursionError:
            parsed.append((number, _Bad(f"JSON nested too deeply (over {MAX_JSON_DEPTH} levels)")))
            continue
        if not isinstance(value, dict):
            parsed.append((number, _Bad(f"each line must be a JSON object, got {_json_type(value)}")))
            continue
        problem = _unicode_problem(value)
        if problem:
            parsed.append((number, _Bad(problem)))
            continue
        row = {_norm(key): item for key, item in value.items()}
        if len(row) != len(value):
            parsed.append((number, _Bad("object repeats a key (keys are compared case-insensitively)")))
            continue
        columns.update(dict.fromkeys(row))
        parsed.append((number, row))
    if not parsed:
        raise InputError(name, "manifest is empty (no JSON lines)")
    return list(columns), iter(parsed)


def _detect_form(columns: list[str], where: str) -> Form:
    if "modality" in columns or "content" in columns:
        missing = [c for c in LONG_COLUMNS if c not in columns]
        if missing:
            raise InputError(
                where, f"long-form header needs columns {', '.join(LONG_COLUMNS)}; missing: {', '.join(missing)}"
            )
        return "long"
    if not any(_column_kind(c) for c in columns):
        raise InputError(
            where,
            f"cannot tell the manifest form from columns {columns}: expected long form "
            f"({', '.join(LONG_COLUMNS)}) or wide form (text/caption, image, audio or file_name columns)",
        )
    return "wide"


def _column_kind(column: str) -> Literal["text", "image", "audio", "file"] | None:
    if _TEXT_COLUMN.match(column):
        return "text"
    if _IMAGE_COLUMN.match(column):
        return "image"
    if _AUDIO_COLUMN.match(column):
        return "audio"
    if column in _FILE_COLUMNS:
        return "file"
    return None


# ---------------------------------------------------------------------------- validating rows


class _Parser:
    """Turns rows into records, keeping ids unique per modality and applying the on_error policy."""

    def __init__(self, *, name: str, root: Path, columns: list[str], form: Form, on_error: OnError) -> None:
        self.name, self.root, self.form, self.on_error = name, root, form, on_error
        self.records: list[Record] = []
        self.problems: list[str] = []
        self.first_line: dict[tuple[str, str], int] = {}  # (modality, id) -> line
        self.kinds = {c: kind for c in columns if (kind := _column_kind(c))}
        holders = {m: sum(k == m or (k == "file" and m != "text") for k in self.kinds.values()) for m in MODALITIES}
        self.single = {m for m, n in holders.items() if n == 1}  # record id = row key for these

    def bad(self, line: int, problem: str) -> None:
        error = InputError(f"{self.name} line {line}", problem)  # made printable: cells quoted in it are a stranger's
        if self.on_error == "stop":
            raise error
        self.problems.append(str(error))

    def row(self, line: int, row: Row) -> None:
        try:
            if isinstance(row, _Bad):
                raise row
            records = self._long(line, row) if self.form == "long" else self._wide(line, row)
            for record in records:
                for what, value in (("id", record.id), ("pair", record.pair)):
                    if len(value) > MAX_ID_CHARS:
                        raise _Bad(f"{what} is {len(value):,} characters, over the limit of {MAX_ID_CHARS:,}")
                first = self.first_line.get((record.modality, record.id))
                if first is not None:
                    raise _Bad(f"duplicate {record.modality} id '{record.id}' (first on line {first})")
        except _Bad as exc:
            self.bad(line, str(exc))
            return
        for record in records:
            self.first_line[(record.modality, record.id)] = line
        self.records += records

    def _long(self, line: int, row: dict[str, object]) -> list[Record]:
        rid = _string(row, "id", required=True)
        name = _string(row, "modality", required=True).lower()
        if name not in MODALITIES:
            raise _Bad(f"unknown modality '{name}' (expected text, image or audio)")
        modality = cast(Modality, name)
        content = _string(row, "content")
        if not content:
            raise _Bad(f"empty content for {modality} '{rid}'")
        pair = _string(row, "pair")
        if not pair:
            raise _Bad(f"missing pair for {modality} '{rid}'")
        label = _string(row, "label") or None
        value: str | Path = content if modality == "text" else self._path(content, modality)
        return [Record(rid, modality, value, pair, label, line)]

    def _wide(self, line: int, row: dict[str, object]) -> list[Record]:
        found: list[tuple[Modality, str, str | Path]] = []  # (modality, column label, content)
        first_file: str | None = None
        for column, kind in self.kinds.items():
            value = row.get(column)
            if kind == "text":
                for entry, text in _texts(column, value):
                    found.append(("text", entry, text))
                continue
            raw = _string(row, column)
            if not raw:
                continue
            modality: Modality = kind if kind != "file" else _modality_by_suffix(column, raw)
            found.append((modality, column, self._path(raw, modality)))
            first_file = first_file or raw
        if not found:
            raise _Bad("no text, image or audio in this row")
        pair = _string(row, "pair")
        key = _string(row, "id") or pair or first_file or f"line {line}"
        pair = pair or key
        label = _string(row, "label") or None
        return [
            Record(self._id(key, modality, column), modality, content, pair, label, line)
            for modality, column, content in found
        ]

    def _id(self, key: str, modality: Modality, column: str) -> str:
        lone = modality in self.single and "[" not in column  # the only column of its modality, not a list entry
        return key if lone else f"{key}:{column}"

    def _path(self, raw: str, modality: Modality) -> Path:
        try:
            return archive_io.resolve_inside(self.root, raw, subfolders=MEDIA_SUBFOLDERS.get(modality, ()))
        except UnsafePath as exc:
            raise _Bad(f"{modality} '{shown(raw)}' {exc}") from None
        except OSError as exc:  # a name too long for the filesystem, and the like
            reason = exc.strerror or type(exc).__name__
            raise _Bad(f"{modality} '{shown(raw)}' cannot be looked up ({reason})") from None


def _string(row: Mapping[str, object], key: str, *, required: bool = False) -> str:
    """A stripped string cell ('' when absent or null); wrong JSON types are a bad row."""
    value = row.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _Bad(f"'{key}' must be a string, got {_json_type(value)} {_short(value)}")
    value = value.strip()
    if required and not value:
        raise _Bad(f"missing {key}")
    return value


def _texts(column: str, value: object) -> list[tuple[str, str]]:
    """A text cell as (column label, text) pairs: one for a string, one per entry of a JSONL list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [(column, value.strip())] if value.strip() else []
    if isinstance(value, list):
        out = []
        for i, entry in enumerate(value, start=1):
            if not isinstance(entry, str):
                raise _Bad(f"'{column}' entry {i} must be a string, got {_json_type(entry)} {_short(entry)}")
            if entry.strip():
                out.append((f"{column}[{i}]", entry.strip()))
        return out
    raise _Bad(f"'{column}' must be a string or a list of strings, got {_json_type(value)} {_short(value)}")


def _modality_by_suffix(column: str, raw: str) -> Modality:
    suffix = PurePosixPath(raw.replace("\\", "/")).suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    raise _Bad(
        f"{column} '{raw}': cannot tell image from audio by the suffix '{suffix}' "
        f"(audio: {' '.join(AUDIO_SUFFIXES)}; image: {' '.join(IMAGE_SUFFIXES)})"
    )


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "list", dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 40, 40, 4, 4


def _short(value: object) -> str:
    """A short, safe rendering of a JSON value for a message (deep nesting and long strings cut)."""
    try:
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    except (RecursionError, ValueError):
        text = _REPR.repr(value)
    return shown(text if len(text) <= 40 else text[:37] + "...")


def _unicode_problem(value: object, depth: int = 0) -> str | None:
    """Why a parsed JSON object cannot be used as Unicode (a lone surrogate in a key or a string), or None."""
    if depth > MAX_JSON_DEPTH:
        return f"JSON nested too deeply (over {MAX_JSON_DEPTH} levels)"
    if isinstance(value, str):
        return unicode_problem(value, what="a string")
    if isinstance(value, dict):
        for key, item in value.items():
            problem = unicode_problem(key, what="a key") or _unicode_problem(item, depth + 1)
            if problem:
                return problem
    if isinstance(value, list):
        for item in value:
            problem = _unicode_problem(item, depth + 1)
            if problem:
                return problem
    return None


# ---------------------------------------------------------------------------- dataset-level checks


def _true_pairs(records: tuple[Record, ...]) -> dict[tuple[Modality, Modality], int]:
    return count_true_pairs((r.pair for r in records), (r.modality for r in records))


def _check_usable(dataset: Dataset, *, require_pairs: bool = True) -> None:
    skipped = len(dataset.problems)
    first = f"; first problem: {dataset.problems[0]}" if skipped else ""
    if not dataset.records:
        raise InputError(dataset.name, f"no usable records ({skipped} bad row(s) skipped{first})")
    if require_pairs and not dataset.true_pairs():
        counts = ", ".join(f"{n} {m}" for m, n in dataset.counts().items())
        raise InputError(
            dataset.name,
            f"no true pairs: no pair key is shared by records of two modalities ({counts}){first}",
        )
