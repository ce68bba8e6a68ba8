"""The local engine of `embed`: decode processes feeding this process's model, atomic shards.

Local engine: a pool of decode processes reads, decodes and prepares records (`Preparer`: pixels, mel
features) a chunk at a time, a bounded number of chunks ahead, while this process runs the model on batches
of `batch_size` items per modality. A shard (`shard_size` rows) is written atomically once all its rows are
embedded or failed, so memory holds at most the chunks in flight and one shard's vectors, whatever the size
of the collection. The Ray engine (`alignment.models.ray_engine`) does the same with Ray Data.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..inputs import shards, stream
from ..inputs.items import Modality
from ..inputs.limits import Limits
from ..inputs.manifest import Dataset, Record
from .embed_job import EmbedJob, Progress
from .encoders import ClapEncoder, ClipEncoder
from .prepare import Payload, Preparer, forward_prepared

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Decoded:
    """One record after decoding and preparation: its shard columns, and the payload or the error."""

    row: int
    id: str
    modality: Modality
    pair: str
    label: str | None
    source: str
    sha256: str
    payload: Payload | None  # None when `error` is set
    error: str | None = None


# ---------------------------------------------------------------------------- decoding (in the workers)

_WORKER: dict[str, object] = {}  # what the initializer gave this decode process


def decode_records(
    dataset: Dataset, preparer: Preparer, limits: Limits, rows: Sequence[int], records: Sequence[Record]
) -> list[Decoded]:
    """Decode and prepare records; a record that fails becomes a `Decoded` with its error, never an exception."""
    out = []
    for row, record in zip(rows, records, strict=True):
        source = stream.shown_path(dataset, record)
        item = stream.decode(dataset, record, limits)
        if isinstance(item, str):
            out.append(Decoded(row, record.id, record.modality, record.pair, record.label, source, "", None, item))
            continue
        try:
            payload = preparer.prepare(item)
        except Exception as exc:  # noqa: BLE001  a processor failing on one item must not stop the run
            error = f"{item.source}: cannot be prepared for the model ({type(exc).__name__}: {exc})"
            out.append(
                Decoded(row, item.id, item.modality, record.pair, record.label, source, item.sha256, None, error)
            )
            continue
        out.append(Decoded(row, item.id, item.modality, record.pair, record.label, source, item.sha256, payload))
    return out


def _init_worker(dataset: Dataset, preparer: Preparer, limits: Limits) -> None:
    import torch

    torch.set_num_threads(1)  # one core per decode process; the model process keeps the others
    _WORKER.update(dataset=dataset, preparer=preparer, limits=limits)


def _decode_in_worker(rows: Sequence[int], records: Sequence[Record]) -> list[Decoded]:
    return decode_records(_WORKER["dataset"], _WORKER["preparer"], _WORKER["limits"], rows, records)  # type: ignore[arg-type]


def default_workers() -> int:
    """Decode processes: one per core but one (the model's), at least one."""
    return max(1, (os.cpu_count() or 2) - 1)


def _decoded_chunks(
    dataset: Dataset, preparer: Preparer, limits: Limits, chunks: list[list[int]], workers: int
) -> Iterator[list[Decoded]]:
    """Chunks of decoded rows in order; with workers > 0, up to 2 x workers + 1 chunks are decoded ahead."""
    shell = replace(dataset, records=(), problems=())  # workers need the name and root, not a million records
    if workers <= 0:
        for rows in chunks:
            yield decode_records(shell, preparer, limits, rows, [dataset.records[r] for r in rows])
        return
    context = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(shell, preparer, limits)
    ) as pool:
        pending: deque[Future[list[Decoded]]] = deque()
        queue = iter(chunks)
        for rows in queue:
            pending.append(pool.submit(_decode_in_worker, rows, [dataset.records[r] for r in rows]))
            if len(pending) > 2 * workers:
                break
        while pending:
            yield pending.popleft().result()
            more = next(queue, None)
            if more is not None:
                pending.append(pool.submit(_decode_in_worker, more, [dataset.records[r] for r in more]))


# ---------------------------------------------------------------------------- the local engine


def shard_name(first_row: int) -> str:
    return f"part-{first_row:010d}.parquet"


def embed_local(
    encoder: ClipEncoder | ClapEncoder,
    dataset: Dataset,
    rows: Sequence[int],
    meta: shards.ShardMeta,
    folder: Path,
    job: EmbedJob,
    progress: Progress,
) -> None:
    """Embed `rows` of the dataset into atomic shards of `job.shard_size` rows under `folder`."""
    preparer = Preparer.of(encoder)
    workers = default_workers() if job.workers is None else job.workers
    chunk = max(1, min(64, encoder.batch_size))  # rows per decode task: small enough to keep every worker busy
    pieces = [list(rows[i : i + job.shard_size]) for i in range(0, len(rows), job.shard_size)]
    chunks = [piece[i : i + chunk] for piece in pieces for i in range(0, len(piece), chunk)]
    decoded = _decoded_chunks(dataset, preparer, job.limits.item, chunks, workers)
    for piece in pieces:
        members: dict[int, Decoded] = {}
        vectors: dict[int, np.ndarray] = {}
        buffers: dict[Modality, list[Decoded]] = {}

        while len(members) < len(piece):
            for item in next(decoded):
                members[item.row] = replace(item, payload=None)  # the payload lives in the buffer until its batch
                if item.error is not None:
                    progress.update(1)
                    continue
                buffers.setdefault(item.modality, []).append(item)
                if len(buffers[item.modality]) >= encoder.batch_size:
                    _flush(encoder, buffers.pop(item.modality), vectors, progress)
        for batch in buffers.values():
            _flush(encoder, batch, vectors, progress)
        shards.write_shard(folder / shard_name(piece[0]), shard_rows([members[r] for r in piece], vectors, meta))


def _flush(
    encoder: ClipEncoder | ClapEncoder, batch: list[Decoded], vectors: dict[int, np.ndarray], progress: Progress
) -> None:
    """One model batch of one modality; its vectors go to `vectors` by row."""
    out = forward_prepared(encoder, batch[0].modality, [d.payload for d in batch])  # type: ignore[misc]  # (B, D)
    vectors.update(zip((d.row for d in batch), out, strict=True))
    progress.update(len(batch))


def shard_rows(items: list[Decoded], vectors: dict[int, np.ndarray], meta: shards.ShardMeta) -> pa.Table:
    blank = np.zeros(meta.dim, np.float32)
    columns: dict[str, list] = {
        "row": [d.row for d in items],
        "id": [d.id for d in items],
        "modality": [d.modality for d in items],
        "pair": [d.pair for d in items],
        "label": [d.label for d in items],
        "source": [d.source for d in items],
        "sha256": [d.sha256 for d in items],
        "error": [d.error for d in items],
    }
    matrix = np.stack([vectors.get(d.row, blank) for d in items]) if items else np.zeros((0, meta.dim))  # (N, D)
    return shards.shard_table(columns, matrix, meta)


__all__ = [
    "Decoded",
    "decode_records",
    "default_workers",
    "embed_local",
    "shard_rows",
]
