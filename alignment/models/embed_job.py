"""The `embed` job shared by both engines: which spaces, what is already done (resume), progress, and the run files.

Resume protocol: an item is done when a complete shard of its space holds its `row` (embedded, or failed with
its error). A run lists the complete shards, deletes what a killed writer left (`*.partial`, footer-less
`.parquet`), refuses shards written with other settings or from another source, and embeds the rest. So the
output of a killed and resumed run holds exactly the rows of an uninterrupted one (only the file cuts differ).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..core.errors import InputError
from ..core.files import atomic_write_text
from ..inputs import shards
from ..inputs.manifest import OnError, Record
from ..inputs.stream import DEFAULT_BULK_LIMITS, BulkLimits, Collection
from .encoders import PREPROCESSING_VERSION, ClapEncoder, ClipEncoder
from .settings import Settings, default_cache_dir

Engine = Literal["local", "ray"]
Log = Callable[[str], None]
OTHER_MODALITY = {"clip": "image", "clap": "audio"}


@dataclass(frozen=True)
class EmbedJob:
    """Everything one `embed` run needs; the CLI builds it from its flags."""

    source: Path  # manifest, folder or zip
    out: Path  # output folder: embed.json, problems.jsonl, one folder per space
    settings: Settings  # models, device, precision, batch size, cache dir
    engine: Engine = "local"
    spaces: tuple[str, ...] | None = None  # None: clip when there are images, clap when audio (both: texts only)
    shard_size: int = 10_000  # rows per shard file (local engine; Ray cuts files per block, at most this)
    workers: int | None = None  # decode processes / Ray decode tasks at once; None = one per core but one
    float16: bool = False  # store vectors as float16 (computed in float32, unit length)
    limits: BulkLimits = DEFAULT_BULK_LIMITS
    on_error: OnError = "skip"  # manifest rows; items that fail to decode are always reported and skipped
    overwrite: bool = False  # delete existing shards first instead of resuming
    actors: int | None = None  # Ray: model actors; None = one per GPU of the cluster, else 1
    gpus_per_actor: float | None = None  # Ray: None = 1 when the cluster has GPUs, else 0
    workdir: Path | None = None  # where a zip is extracted (default: the system temp folder)


@dataclass(frozen=True)
class SpacePlan:
    """One backbone space: its role and the dataset rows it embeds (texts and its media modality)."""

    space: str  # 'clip' | 'clap'
    rows: tuple[int, ...]


@dataclass
class SpaceResult:
    """How a space went in this run."""

    space: str
    items: int  # rows of the space
    already_done: int  # rows found in complete shards at the start
    embedded: dict[str, int] = field(default_factory=dict)  # per modality, after the run
    failed: int = 0
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        rate = (self.items - self.already_done) / self.seconds if self.seconds else None
        return {
            "items": self.items,
            "already_done": self.already_done,
            "embedded": self.embedded,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "items_per_s": round(rate, 3) if rate else None,
            "model": self.meta,
        }


# ---------------------------------------------------------------------------- planning


def plan_spaces(records: Sequence[Record], wanted: tuple[str, ...] | None) -> list[SpacePlan]:
    """Rows per space; by default a space is embedded when its media modality is present (texts only: both)."""
    present = {r.modality for r in records}
    if wanted is None:
        wanted = tuple(s for s in shards.SPACES if OTHER_MODALITY[s] in present) or shards.SPACES
    for space in wanted:
        if space not in shards.SPACES:
            raise ValueError(f"unknown space {space!r} (expected clip or clap)")
    plans = []
    for space in wanted:
        keep = ("text", OTHER_MODALITY[space])
        plans.append(SpacePlan(space, tuple(i for i, r in enumerate(records) if r.modality in keep)))
    return plans


def source_fingerprint(collection: Collection) -> str:
    """A hash of every record's (modality, id, content): a resumed run must read the same collection."""
    digest = hashlib.sha256()
    for r in collection.records:
        digest.update(f"{r.modality}\x00{r.id}\x00{r.content}\x00{r.pair}\x00{r.label}\n".encode())
    return digest.hexdigest()[:32]


def prepare_out(job: EmbedJob, collection: Collection) -> dict:
    """Create OUT (or check that its previous run read the same source) and write embed.json's 'running' state."""
    run_file = job.out / shards.RUN_FILE
    fingerprint = source_fingerprint(collection)
    if job.overwrite and job.out.exists():
        for space in shards.SPACES:
            for path in (job.out / space).glob("*.parquet*") if (job.out / space).is_dir() else ():
                path.unlink()
    elif run_file.exists():
        try:
            previous = json.loads(run_file.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(str(run_file), f"cannot be read ({exc}); pass --overwrite to start again") from None
        if previous.get("source_fingerprint") != fingerprint:
            raise InputError(
                str(job.out),
                f"holds shards of another collection ({previous.get('source')}, {previous.get('records')} records); "
                "choose another --out, or pass --overwrite to start again",
            )
    job.out.mkdir(parents=True, exist_ok=True)
    state = {
        "format": shards.FORMAT,
        "state": "running",
        "source": str(job.source),
        "source_kind": collection.kind,
        "records": len(collection.records),
        "source_fingerprint": fingerprint,
        "engine": job.engine,
        "stored_dtype": "float16" if job.float16 else "float32",
    }
    atomic_write_text(run_file, json.dumps(state, indent=1))
    return state


def done_rows(folder: Path, meta: shards.ShardMeta) -> set[int]:
    """Rows already in complete shards of `folder`; leftovers of a killed writer are deleted first."""
    import pyarrow.parquet as pq

    if not folder.is_dir():
        return set()
    for leftover in shards.incomplete_files(folder):
        leftover.unlink()
    done: set[int] = set()
    for path, found in shards.complete_shards(folder):
        wrong = found.differs(meta)
        if wrong:
            raise InputError(
                str(path),
                f"was written with other settings (this shard vs this run: {'; '.join(wrong)}); choose another --out, "
                "or pass --overwrite to start again",
            )
        done.update(pq.read_table(path, columns=["row"]).column("row").to_pylist())
    return done


# ---------------------------------------------------------------------------- progress


class Progress:
    """Items done, rate and ETA on stderr, at most every `interval` seconds and once at the end."""

    def __init__(self, label: str, total: int, *, log: Log | None = None, interval: float = 2.0) -> None:
        self.label, self.total, self.interval = label, total, interval
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.done = 0
        self.start = time.perf_counter()
        self.last = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.interval or self.done >= self.total:
            self.last = now
            self.log(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.perf_counter()) - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        share = self.done / self.total if self.total else 1.0
        return (
            f"[{self.label}] {self.done:,}/{self.total:,} items ({share:.1%}), {rate:.1f} items/s, "
            f"elapsed {_duration(elapsed)}, ETA {_duration(left)}"
        )


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown"
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


# ---------------------------------------------------------------------------- the run's files


def problem_lines(collection: Collection, out: Path, spaces: Sequence[str]) -> list[dict]:
    """Skipped manifest rows, then every failed item of every space (read back from the shards), in row order."""
    lines: list[dict] = [{"space": None, "row": None, "problem": p} for p in collection.dataset.problems]
    for space in spaces:
        folder = out / space
        if not folder.is_dir() or not shards.complete_shards(folder):
            continue
        table, _ = shards.read_table(folder, columns=["row", "id", "modality", "source", "error"])
        for row in shards.failed_rows(table).to_pylist():
            problem = row.pop("error")
            lines.append({"space": space, **row, "problem": problem})
    return lines


def finish(
    job: EmbedJob, collection: Collection, state: dict, results: list[SpaceResult], seconds: float
) -> tuple[dict, list[dict]]:
    """Write problems.jsonl and the final embed.json; return the summary and the problems."""
    problems = problem_lines(collection, job.out, [r.space for r in results])
    text = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in problems)
    atomic_write_text(job.out / shards.PROBLEMS_FILE, text)
    summary = {
        **state,
        "state": "complete",
        "seconds": round(seconds, 3),
        "spaces": {r.space: r.to_json() for r in results},
        "problems": len(problems),
        "skipped_manifest_rows": len(collection.dataset.problems),
    }
    atomic_write_text(job.out / shards.RUN_FILE, json.dumps(summary, indent=1))
    return summary, problems


# ---------------------------------------------------------------------------- models and their identity


def load_space_encoder(job: EmbedJob, space: str, *, device: str | None = None) -> ClipEncoder | ClapEncoder:
    """The backbone of one space, as the job's settings ask for it."""
    from .factory import load_encoder
    from .runtime import pick_device

    settings = job.settings
    root = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    return load_encoder(
        space,  # type: ignore[arg-type]  # 'clip' | 'clap' are the roles
        getattr(settings, space),
        device=pick_device(device or settings.device),
        batch_size=settings.batch_size,
        tiny_root=root / "models",
        precision=settings.precision,
    )


def space_meta(encoder: ClipEncoder | ClapEncoder, space: str, job: EmbedJob) -> shards.ShardMeta:
    return shards.ShardMeta(
        space=space,
        model_id=encoder.model_id,
        revision=encoder.revision,
        preprocessing=PREPROCESSING_VERSION,
        precision=encoder.precision,
        dtype="float16" if job.float16 else "float32",
        dim=encoder.dim,
    )


__all__ = [
    "EmbedJob",
    "Engine",
    "Progress",
    "SpacePlan",
    "SpaceResult",
    "done_rows",
    "load_space_encoder",
    "space_meta",
    "finish",
    "plan_spaces",
    "prepare_out",
    "problem_lines",
    "source_fingerprint",
]
