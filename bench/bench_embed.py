"""Batch embedding throughput: `embed --engine local` vs `--engine ray` vs a naive per-item loop, in one run.

    .venv/bin/python -m bench.bench_embed [--items 240] [--batch-size 32] [--workers N] [--skip-ray]

Input: the 10 real photos of ../shared/data/photos listed `--items` times in all (under other ids) in a
long-form manifest, embedded with the real-size random-weight CLIP ViT-B/32 image tower (bench/models.py).
Each engine runs end to end from the manifest to parquet, model load included:

- naive: one process, one item at a time: read, decode, preprocess, `encode_image([image])`, then one
  parquet file at the end (what a first script does);
- local: `run_embed` with the local engine (decode processes feeding batches of `--batch-size`);
- ray: `run_embed` with the Ray Data engine on a local Ray (`ray.init(num_cpus=<cores>)`, timed apart).

`agree` is the smallest cosine, over items, between an engine's vector and the naive loop's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import transformers

from alignment.inputs import shards
from alignment.inputs.embeddings import load_shards
from alignment.inputs.image import read_image
from alignment.models.embed_job import EmbedJob
from alignment.models.embed_run import run_embed
from alignment.models.factory import load_encoder
from alignment.models.settings import settings_for

from . import models
from .machine import SHARED, load_average, machine_line, table


def make_manifest(folder: Path, items: int) -> Path:
    """`items` image rows over the 10 shared photos (copied once), ids photo-k."""
    photos = sorted((SHARED / "photos").iterdir())
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    for path in photos:
        shutil.copy(path, folder / "photos" / path.name)
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "modality", "content", "pair"])
        for k in range(items):
            path = photos[k % len(photos)]
            writer.writerow([f"{path.stem}-{k}", "image", f"photos/{path.name}", f"{path.stem}-{k}"])
    return manifest


def naive(manifest: Path, clip: str, batch_size: int) -> np.ndarray:
    """Read, decode, preprocess and embed one image at a time; (N, D)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    encoder = load_encoder("clip", clip, batch_size=batch_size, precision="fp32")
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    vectors = []
    for row in rows:
        path = manifest.parent / row["content"]
        image = read_image(path.read_bytes(), source=str(path))
        vectors.append(encoder.encode_image([image]).numpy()[0])
    matrix = np.stack(vectors)  # (N, D)
    out = manifest.parent / "naive.parquet"
    pq.write_table(pa.table({"id": [r["id"] for r in rows], "embedding": list(matrix)}), out)
    return matrix


def engine_run(manifest: Path, out: Path, clip: str, *, engine: str, batch_size: int, workers: int | None) -> float:
    settings = settings_for("default", clip=clip, device="cpu", precision="fp32", batch_size=batch_size)
    job = EmbedJob(source=manifest, out=out, settings=settings, engine=engine, workers=workers, spaces=("clip",))  # type: ignore[arg-type]
    start = time.perf_counter()
    run_embed(job, log=lambda message: None)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=240, help="images in the collection (default: 240)")
    parser.add_argument("--batch-size", type=int, default=32, help="model batch of the two engines (default: 32)")
    parser.add_argument("--workers", type=int, default=None, help="decode processes / Ray decode tasks")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    transformers.utils.logging.disable_progress_bar()
    print(machine_line(), flush=True)
    load_before = load_average()
    clip = str(models.ensure("clip"))
    work = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    try:
        manifest = make_manifest(work / "data", args.items)
        results: dict[str, dict] = {}
        start = time.perf_counter()
        reference = naive(manifest, clip, args.batch_size)
        results["naive per-item loop"] = {"seconds": time.perf_counter() - start, "agree": 1.0}
        print(f"  naive: {results['naive per-item loop']['seconds']:.1f} s", flush=True)

        def agree(out: Path) -> float:
            embedded = load_shards(out / "clip", require_pairs=False)
            return float((embedded.embeddings * reference).sum(axis=1).min())  # rows in manifest order

        seconds = engine_run(
            manifest, work / "local", clip, engine="local", batch_size=args.batch_size, workers=args.workers
        )
        results["embed --engine local"] = {"seconds": seconds, "agree": agree(work / "local")}
        print(f"  local: {seconds:.1f} s", flush=True)
        if not args.skip_ray:
            import ray

            started = time.perf_counter()
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
            init = time.perf_counter() - started
            try:
                seconds = engine_run(
                    manifest, work / "ray", clip, engine="ray", batch_size=args.batch_size, workers=args.workers
                )
            finally:
                ray.shutdown()
            results["embed --engine ray"] = {"seconds": seconds, "agree": agree(work / "ray"), "ray_init_s": init}
            print(f"  ray: {seconds:.1f} s (+ ray.init {init:.1f} s)", flush=True)
        rows = shards.read_table(work / "local" / "clip", columns=["row"])[0].num_rows
        assert rows == args.items, f"local engine wrote {rows} rows, expected {args.items}"
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = results["naive per-item loop"]["seconds"]
    print()
    print(
        table(
            ["path", "items", "seconds", "items/s", "vs naive", "agree (min cos to naive)"],
            [
                [
                    name,
                    args.items,
                    r["seconds"],
                    args.items / r["seconds"],
                    f"x{base / r['seconds']:.2f}",
                    f"{r['agree']:.6f}",
                ]
                for name, r in results.items()
            ],
        )
    )
    print(
        f"\nbatch {args.batch_size}, workers {args.workers or 'default'}; load average before {load_before}, "
        f"after {load_average()}"
    )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_line(), "items": args.items, "results": results}, indent=1))


if __name__ == "__main__":
    main()
