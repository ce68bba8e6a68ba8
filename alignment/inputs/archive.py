"""Path confinement and safe zip extraction: nothing from a manifest or an archive may leave the dataset root."""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Protocol

from ..core.errors import InputError
from ..core.names import display_name

PathLike = str | os.PathLike
_DRIVE = re.compile(r"^[A-Za-z]:")
_IGNORED_IN_ZIP = ("__MACOSX/",)  # macOS resource forks: never extracted, never a manifest
_EOCD_SIZE = 22  # end-of-central-directory record without its comment


class UnsafePath(ValueError):
    """A manifest or archive path that is absolute, climbs out with '..', or links outside the root."""


class ArchiveLimits(Protocol):
    """The limits `extract_zip` reads (alignment.inputs.limits.DatasetLimits has them)."""

    @property
    def max_zip_entries(self) -> int: ...
    @property
    def max_unzipped_mb(self) -> float: ...
    @property
    def max_ratio(self) -> float: ...
    @property
    def ratio_floor_mb(self) -> float: ...


def safe_parts(raw: str) -> tuple[str, ...]:
    """Relative path parts, refusing absolute, drive, UNC and '..' forms; backslashes read as separators."""
    if "\x00" in raw:
        raise UnsafePath("contains a NUL character")
    posix = raw.replace("\\", "/")
    if posix.startswith("//"):
        raise UnsafePath("is a network (UNC) path; paths must be relative to the dataset folder")
    if _DRIVE.match(posix):
        raise UnsafePath("is a Windows drive path; paths must be relative to the dataset folder")
    if posix.startswith("/"):
        raise UnsafePath("is an absolute path; paths must be relative to the dataset folder")
    parts = tuple(part for part in PurePosixPath(posix).parts if part != ".")
    if ".." in parts:
        raise UnsafePath("goes outside the dataset folder ('..' is not allowed)")
    return parts


def resolve_inside(root: Path, raw: str, *, subfolders: tuple[str, ...] = ()) -> Path:
    """Resolve a manifest path inside `root` (then `root/<subfolder>`), following symlinks only if they stay inside."""
    parts = safe_parts(raw)
    if not parts:
        raise UnsafePath("names the dataset folder itself, not a file")
    for base in (root, *(root / sub for sub in subfolders)):
        candidate = base.joinpath(*parts)
        if not (candidate.exists() or candidate.is_symlink()):
            continue
        resolved = candidate.resolve()
        if not resolved.is_relative_to(root):
            raise UnsafePath("is a link that leads outside the dataset folder")
        if not resolved.exists():
            raise UnsafePath("is a broken link")
        if not resolved.is_file():
            raise UnsafePath("is a folder, not a file" if resolved.is_dir() else "is not a regular file")
        return resolved
    also = f" (also looked in {', '.join(s + '/' for s in subfolders)})" if subfolders else ""
    raise UnsafePath(f"does not exist{also}")


def extract_zip(archive: PathLike, dest: PathLike, *, limits: ArchiveLimits, name: str | None = None) -> Path:
    """Unpack into `dest`, refusing unsafe names, links, too many entries, too many bytes and high ratios.

    Messages call the archive `name` (default: its file name); the folder it is unpacked into never shows."""
    archive, dest = Path(archive), Path(dest)
    name = name or display_name(archive)
    max_bytes = limits.max_unzipped_mb * 1e6
    try:
        size = archive.stat().st_size
        if size > max_bytes:
            budget = limits.max_unzipped_mb
            raise InputError(name, f"is {size / 1e6:.1f} MB, over the budget of {budget:g} MB per archive")
        entries = declared_entries(archive)
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if entries is not None and entries > limits.max_zip_entries:  # before zipfile builds one object per entry
        raise InputError(name, f"holds {entries:,} entries, over the limit of {limits.max_zip_entries:,}")
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise InputError(name, f"not a readable zip file ({reason})") from None
    with zf:
        infos = [info for info in zf.infolist() if not info.filename.startswith(_IGNORED_IN_ZIP)]
        if len(infos) > limits.max_zip_entries:
            raise InputError(name, f"holds {len(infos):,} entries, over the limit of {limits.max_zip_entries:,}")
        # 1. the central directory: names, types and declared sizes, before a byte is written
        seen: set[str] = set()
        declared = compressed = 0
        for info in infos:
            key = "/".join(_entry_parts(name, info)).lower()
            if key in seen and not info.is_dir():
                raise InputError(name, f"entry '{info.filename}' appears twice")
            seen.add(key)
            _check_ratio(name, info.filename, info.file_size, info.compress_size, limits)
            declared += info.file_size
            compressed += info.compress_size
        if declared > max_bytes:
            raise InputError(
                name,
                f"unpacks to {declared / 1e6:.1f} MB, over the budget of {limits.max_unzipped_mb:g} MB "
                "decoded per archive (max_unzipped_mb)",
            )
        _check_ratio(name, "the whole archive", declared, compressed, limits)
        # 2. extract, counting real bytes: declared sizes can lie
        dest.mkdir(parents=True, exist_ok=True)
        base = dest.resolve()
        written = 0
        for info in infos:
            target = base.joinpath(*_entry_parts(name, info))
            if not target.resolve().is_relative_to(base):
                raise InputError(name, f"entry '{info.filename}' would be written outside the extraction folder")
            count = 0
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as source, open(target, "xb") as out:
                    while chunk := source.read(1 << 20):
                        count += len(chunk)
                        written += len(chunk)
                        if count > info.file_size:
                            raise InputError(
                                name,
                                f"entry '{info.filename}' holds more bytes than its header says ({info.file_size:,})",
                            )
                        if written > max_bytes:
                            raise InputError(
                                name,
                                f"unpacks to over the budget of {limits.max_unzipped_mb:g} MB decoded per archive "
                                "(max_unzipped_mb; its entries' headers understate their sizes)",
                            )
                        _check_ratio(name, info.filename, count, info.compress_size, limits)
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
                raise InputError(name, f"entry '{info.filename}' could not be extracted ({exc})") from None
            except OSError as exc:  # e.g. a file and a folder of the same name; never name the temp folder
                raise InputError(
                    name, f"entry '{info.filename}' could not be written ({exc.strerror or type(exc).__name__})"
                ) from None
    return dest


def declared_entries(path: Path) -> int | None:
    """The entry count the end-of-central-directory record declares (zip64 too), read from the file's tail
    before the central directory is parsed; None when no record is found (zipfile then reports the damage)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        tail_start = max(0, size - _EOCD_SIZE - 0xFFFF)  # the record, then a comment of at most 64 KiB
        f.seek(tail_start)
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < _EOCD_SIZE:
            return None
        total = struct.unpack("<H", tail[at + 10 : at + 12])[0]
        locator = at - 20
        if total == 0xFFFF and locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":  # zip64
            offset = struct.unpack("<Q", tail[locator + 8 : locator + 16])[0]
            if offset > size - 56:
                return None
            f.seek(offset)
            record = f.read(56)
            if record[:4] != b"PK\x06\x06":
                return None
            total = struct.unpack("<Q", record[32:40])[0]
        return int(total)


def _entry_parts(name: str, info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The safe relative parts of a zip entry's name, or InputError naming the entry."""
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InputError(name, f"entry '{info.filename}' is a symbolic link (refused)")
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise InputError(name, f"entry '{info.filename}' is not a regular file or folder (refused)")
    if info.flag_bits & 0x1:
        raise InputError(name, f"entry '{info.filename}' is encrypted (refused)")
    try:
        parts = safe_parts(info.filename)
    except UnsafePath as exc:
        raise InputError(name, f"entry '{info.filename}' {exc}") from None
    if not parts:
        raise InputError(name, f"entry '{info.filename}' has an empty name")
    return parts


def _check_ratio(name: str, what: str, size: int, compressed: int, limits: ArchiveLimits) -> None:
    if size > limits.ratio_floor_mb * 1e6 and size > limits.max_ratio * max(compressed, 1):
        where = what if what == "the whole archive" else f"entry '{what}'"
        raise InputError(
            name,
            f"{where} expands {size / max(compressed, 1):,.0f}x ({compressed:,} -> {size:,} bytes), "
            f"over the limit of {limits.max_ratio:g}x (a zip bomb?)",
        )
