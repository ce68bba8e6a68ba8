"""The whole `embed` run: read the collection, then for each space load its model, find what is done, run an engine."""

from __future__ import annotations

import time

from ..inputs import shards, stream
from ..inputs.items import MODALITIES
from .embed_job import (
    EmbedJob,
    Log,
    Progress,
    SpaceResult,
    done_rows,
    finish,
    load_space_encoder,
    plan_spaces,
    prepare_out,
    space_meta,
)


def run_embed(job: EmbedJob, log: Log) -> tuple[dict, list[dict]]:
    """Embed a collection into parquet shards (resuming what a previous run completed); returns summary, problems."""
    started = time.perf_counter()
    collection = stream.open_collection(job.source, limits=job.limits, on_error=job.on_error, workdir=job.workdir)
    try:
        for problem in collection.dataset.problems:
            log(f"skipped: {problem}")
        plans = plan_spaces(collection.records, job.spaces)
        state = prepare_out(job, collection)
        results = []
        for plan in plans:
            results.append(_run_space(job, collection, plan.space, plan.rows, log))
        return finish(job, collection, state, results, time.perf_counter() - started)
    finally:
        collection.cleanup()


def _run_space(
    job: EmbedJob, collection: stream.Collection, space: str, rows: tuple[int, ...], log: Log
) -> SpaceResult:
    folder = job.out / space
    log(f"[{space}] loading {getattr(job.settings, space)}")
    if job.engine == "ray":
        from .ray_engine import embed_ray, expected_meta  # Ray loads only for --engine ray

        encoder = load_space_encoder(job, space, device="cpu")  # the processor and the model's identity
        meta = expected_meta(encoder, space, job)
    else:
        encoder = load_space_encoder(job, space)
        meta = space_meta(encoder, space, job)
    done = done_rows(folder, meta)
    pending = [r for r in rows if r not in done]
    log(
        f"[{space}] {len(rows):,} items ({len(done):,} already in complete shards), {job.engine} engine, "
        f"{meta.precision}, {meta.dtype} vectors, {meta.model_id}"
    )
    result = SpaceResult(space, len(rows), len(done), meta=meta.to_json())
    start = time.perf_counter()
    if pending:
        folder.mkdir(parents=True, exist_ok=True)
        progress = Progress(space, len(pending), log=log)
        if job.engine == "ray":
            embed_ray(encoder, collection.dataset, pending, meta, folder, job, log)
            progress.update(len(pending))
        else:
            from .batch import embed_local

            embed_local(encoder, collection.dataset, pending, meta, folder, job, progress)
    result.seconds = time.perf_counter() - start
    if not rows:
        return result
    table, _ = shards.read_table(folder, columns=["row", "modality", "error"])
    result.failed = shards.failed_rows(table).num_rows
    found = shards.embedded_rows(table).column("modality").to_pylist()
    result.embedded = {m: found.count(m) for m in MODALITIES if m in found}
    return result


__all__ = ["run_embed"]
