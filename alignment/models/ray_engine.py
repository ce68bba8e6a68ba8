"""The Ray Data engine of `embed`: read -> decode on CPU tasks -> `map_batches` on a model actor pool -> write_parquet.

Runs on whatever `ray.init()` finds: an already initialised Ray (the tests start a local one), the cluster that
RAY_ADDRESS names, or else a new local Ray. The records of the rows still to do become an Arrow table; CPU
tasks decode and prepare them (`batch.decode_records`, the local engine's code: pixels, mel features); an
actor pool (`num_gpus` per actor when the cluster has GPUs) loads the backbone once per actor and embeds
batches; Ray Data writes the parquet files straight from the actors' nodes into the space folder. A file is
complete once it has its footer, so a killed run resumes from the files Ray finished (`embed_job.done_rows`).
Ray is imported here only, never on the app's import path.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..inputs import shards
from ..inputs.limits import Limits
from ..inputs.manifest import Dataset, Record
from .batch import Decoded, decode_records, default_workers, shard_rows
from .embed_job import EmbedJob, Log, load_space_encoder, space_meta
from .encoders import ClapEncoder, ClipEncoder
from .precision import resolve_precision
from .prepare import Preparer, forward_prepared

if TYPE_CHECKING:
    import pyarrow as pa

DECODE_MEMORY = 2**30  # bytes a decode process may hold: its imports (~0.5 GB) and a chunk of decoded media


def init_ray(log: Log) -> dict[str, float]:
    """Connect to Ray (RAY_ADDRESS, or a new local instance) unless already connected; the cluster's resources."""
    import ray

    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            log(f"Connecting to the Ray cluster at {os.environ['RAY_ADDRESS']}")
            ray.init()
        else:
            ray.init(include_dashboard=False)
    return {k: float(v) for k, v in ray.cluster_resources().items()}


def _gpus_per_actor(job: EmbedJob) -> float:
    """GPUs per model actor: the flag, else 1 when the cluster has GPUs."""
    import ray

    if job.gpus_per_actor is not None:
        return job.gpus_per_actor
    return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def expected_meta(encoder: ClipEncoder | ClapEncoder, space: str, job: EmbedJob) -> shards.ShardMeta:
    """The metadata the actors will write: the driver's model, at the precision of the actors' device."""
    import torch

    meta = space_meta(encoder, space, job)
    if _gpus_per_actor(job) > 0 and job.settings.precision == "auto":
        return replace(meta, precision="bf16")  # auto on the actors' GPUs (the actor checks it can)
    return replace(meta, precision=resolve_precision(job.settings.precision, torch.device("cpu")))


# ---------------------------------------------------------------------------- the stages


def _decode_batch(batch: pa.Table, *, shell: Dataset, preparer: Preparer, limits: Limits) -> pa.Table:
    """CPU task: records -> decoded, prepared rows (payload pickled: a text, pixels or mel features)."""
    import pyarrow as pa

    rows = batch.column("row").to_pylist()
    records: list[Record] = [pickle.loads(b) for b in batch.column("record").to_pylist()]
    decoded = decode_records(shell, preparer, limits, rows, records)
    columns = {name: [getattr(d, name) for d in decoded] for name in ("row", *shards.STRING_COLUMNS)}
    columns["payload"] = [None if d.payload is None else pickle.dumps(d.payload, protocol=5) for d in decoded]
    return pa.table(
        {
            "row": pa.array(columns.pop("row"), pa.int64()),
            **{k: pa.array(v, pa.string()) for k, v in columns.items() if k != "payload"},
            "payload": pa.array(columns["payload"], pa.binary()),
        }
    )


class EmbedActor:
    """One model per actor: loaded once, then batches of decoded rows -> shard rows with their embeddings."""

    def __init__(self, *, job: EmbedJob, space: str, meta: dict[str, Any]) -> None:
        import ray

        device = "cuda" if ray.get_gpu_ids() else "cpu"
        self.encoder = load_space_encoder(job, space, device=device)
        self.meta = shards.ShardMeta(**meta)
        mine = space_meta(self.encoder, space, job)
        if mine.differs(self.meta):  # e.g. a GPU without bf16, or another copy of a local checkpoint
            raise RuntimeError(f"the actor's model differs from the driver's ({'; '.join(mine.differs(self.meta))})")

    def __call__(self, batch: pa.Table) -> pa.Table:
        decoded = [
            Decoded(
                row=r["row"],
                id=r["id"],
                modality=r["modality"],
                pair=r["pair"],
                label=r["label"],
                source=r["source"],
                sha256=r["sha256"],
                payload=None if r["payload"] is None else pickle.loads(r["payload"]),
                error=r["error"],
            )
            for r in batch.to_pylist()
        ]
        vectors: dict[int, np.ndarray] = {}
        for modality in ("text", "image", "audio"):
            members = [d for d in decoded if d.modality == modality and d.error is None]
            if members:
                out = forward_prepared(self.encoder, modality, [d.payload for d in members])  # type: ignore[misc]
                vectors.update(zip((d.row for d in members), out, strict=True))  # (B, D) by row
        return shard_rows([replace(d, payload=None) for d in decoded], vectors, self.meta)


# ---------------------------------------------------------------------------- the pipeline


def embed_ray(
    encoder: ClipEncoder | ClapEncoder,
    dataset: Dataset,
    rows: Sequence[int],
    meta: shards.ShardMeta,
    folder: Path,
    job: EmbedJob,
    log: Log,
) -> None:
    """Embed `rows` with Ray Data into parquet files under `folder` (see the module docstring)."""
    import pyarrow as pa
    import ray

    resources = init_ray(log)
    gpus = _gpus_per_actor(job)
    actors = job.actors or (max(1, int(resources.get("GPU", 0) // gpus)) if gpus > 0 else 1)
    decoders = job.workers or default_workers()
    chunk = max(1, min(64, encoder.batch_size))
    log(
        f"Ray: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; {actors} model actor(s) with "
        f"{gpus:g} GPU each, up to {decoders} decode tasks at once"
    )
    shell = replace(dataset, records=(), problems=())
    table = pa.table(
        {
            "row": pa.array(list(rows), pa.int64()),
            "record": pa.array([pickle.dumps(dataset.records[r]) for r in rows], pa.binary()),
        }
    )
    blocks = max(1, min(len(rows) // chunk, 10_000))
    preparer = Preparer.of(encoder)
    ds = ray.data.from_arrow(table).repartition(blocks)
    ds = ds.map_batches(
        _decode_batch,  # type: ignore[arg-type]  # keyword-only options come through fn_kwargs
        fn_kwargs={"shell": shell, "preparer": preparer, "limits": job.limits.item},
        batch_size=chunk,
        batch_format="pyarrow",
        num_cpus=1,
        # a real reservation for a chunk of decoded media; being unlike the actors' it also keeps Ray from
        # fusing decoding into the model actors, so decode tasks and actors run side by side
        memory=DECODE_MEMORY,
        compute=ray.data.TaskPoolStrategy(size=decoders),
    )
    ds = ds.map_batches(
        EmbedActor,
        fn_constructor_kwargs={"job": job, "space": meta.space, "meta": asdict(meta)},
        batch_size=job.settings.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_gpus=gpus,
        num_cpus=0 if gpus > 0 else 1,
    )
    ds.write_parquet(str(folder), max_rows_per_file=job.shard_size, compression="zstd")


__all__ = ["EmbedActor", "embed_ray", "expected_meta", "init_ray"]
