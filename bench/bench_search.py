"""Gallery search latency: exact (numpy, torch, analysis.topk) vs FAISS flat vs IVF / HNSW, with recall@10.

    .venv/bin/python -m bench.bench_search [--sizes 10000,100000] [--dim 512] [--queries 200] [--batch 256]
                                           [--data random,clustered] [--methods ...] [--threads N] [--json out.json]

Per size and data kind, in one process, back to back: the gallery (N unit vectors, D = 512) and Q held-out
queries are drawn; every method answers the same queries. Single-query latency is p50 / p95 over the Q
queries sent one at a time (after 5 untimed warm-up queries); batch latency is the median of 3 runs of one
(batch, D) query block. recall@10 is against the exact numpy top-10 of the same queries. The approximate
indexes are built by `alignment.analysis.index.build_index` as the library builds them: their knob (nprobe,
efSearch) tuned until recall@10 on a leave-one-out sample of 1,000 gallery items reaches 0.95; the recall
reported here is on the held-out queries, so it checks that the tuning generalises.

Data: `random` = Gaussian directions, normalised (uniform on the sphere: the worst case for an approximate
index, nothing is much nearer than anything else); `clustered` = items around 1,000 random centres (noise 1.5x
a centre's length; cosine to a same-centre item ~0.3 vs ~0 otherwise), queries drawn the same way, which is
closer to real embeddings. `library` is `Gallery.search` end to end (exact up to EXACT_MAX items, FAISS flat
beyond), the path the CLI and app take after the query is embedded.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import numpy as np

from .machine import load_average, machine_line, table

K = 10
METHODS = ("numpy", "torch", "topk", "library", "faiss-flat", "ivf", "hnsw")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_data(kind: str, n: int, q: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(gallery (n, D), queries (q, D)) unit float32."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        return unit(rng.standard_normal((n, dim), dtype=np.float32)), unit(
            rng.standard_normal((q, dim), dtype=np.float32)
        )
    centres = rng.standard_normal((1_000, dim), dtype=np.float32)  # (C, D)

    def draw(count: int) -> np.ndarray:
        noise = 1.5 * rng.standard_normal((count, dim), dtype=np.float32)  # (count, D)
        return unit(centres[rng.integers(0, len(centres), count)] + noise)

    return draw(n), draw(q)


# ---------------------------------------------------------------------------- searchers: (Q, D) -> (Q, K) rows


def numpy_exact(gallery: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def run(q: np.ndarray) -> np.ndarray:
        scores = q @ gallery.T  # (Q, N)
        part = np.argpartition(-scores, K, axis=1)[:, :K]  # (Q, K) unordered
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1)

    return run


def torch_exact(gallery: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    g = torch.from_numpy(gallery)

    def run(q: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.topk(torch.from_numpy(q) @ g.T, K, dim=1).indices.numpy()  # (Q, N) -> (Q, K)

    return run


def topk_exact(gallery: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from alignment.analysis.topk import topk_similarity

    return lambda q: topk_similarity(q, gallery, K).indices


def library(gallery: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from alignment.inputs.embeddings import from_arrays
    from alignment.search import Space, gallery_from_embedded

    n = len(gallery)
    embedded = from_arrays([str(i) for i in range(n)], ["image"] * n, ["p"] * n, gallery, require_pairs=False)
    built = gallery_from_embedded(embedded, space=Space("clip", gallery.shape[1]))
    return lambda q: built.search(q, K).rows


def faiss_index(gallery: np.ndarray, kind: str, built: dict) -> Callable[[np.ndarray], np.ndarray]:
    from alignment.analysis.index import IndexSettings, build_index

    start = time.perf_counter()
    index = build_index(gallery, settings=IndexSettings(kind=kind))  # type: ignore[arg-type]
    built["build_s"] = time.perf_counter() - start
    built["tuned"] = index.recall.to_json() if index.recall else None
    return lambda q: index.search(q, K).indices


# ---------------------------------------------------------------------------- timing


def latencies(run: Callable[[np.ndarray], np.ndarray], queries: np.ndarray, batch: int) -> dict:
    for q in queries[:5]:
        run(q[None, :])
    single = []
    for q in queries:
        start = time.perf_counter()
        run(q[None, :])
        single.append(time.perf_counter() - start)
    block = np.resize(queries, (batch, queries.shape[1]))  # (batch, D): the queries, repeated to fill it
    batch_times = []
    for _ in range(3):
        start = time.perf_counter()
        run(block)
        batch_times.append(time.perf_counter() - start)
    return {
        "p50_ms": 1e3 * float(np.percentile(single, 50)),
        "p95_ms": 1e3 * float(np.percentile(single, 95)),
        "batch_ms": 1e3 * float(np.median(batch_times)),
    }


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, e)) / K for f, e in zip(found, exact, strict=True)]))


def bench_one(kind: str, n: int, args: argparse.Namespace) -> list[dict]:
    gallery, queries = make_data(kind, n, args.queries, args.dim)
    exact = numpy_exact(gallery)(queries)
    rows = []
    for method in args.methods:
        built: dict = {}
        start = time.perf_counter()
        if method in ("faiss-flat", "ivf", "hnsw"):
            run = faiss_index(gallery, "flat" if method == "faiss-flat" else method, built)
        else:
            run = {"numpy": numpy_exact, "torch": torch_exact, "topk": topk_exact, "library": library}[method](gallery)
            built["build_s"] = time.perf_counter() - start
        row = {"data": kind, "n": n, "method": method, **latencies(run, queries, args.batch), **built}
        row["recall@10"] = recall(run(queries), exact)
        row["load"] = load_average()
        rows.append(row)
        print(f"  {kind} {n:,} {method}: {row}", flush=True)
    base = next((r for r in rows if r["method"] == "numpy"), None)
    for row in rows:
        if base:
            row["x_numpy_p50"] = row["p50_ms"] / base["p50_ms"]
            row["x_numpy_batch"] = row["batch_ms"] / base["batch_ms"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--data", default="random,clustered")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--threads", type=int, default=None, help="BLAS, torch and FAISS threads (default: theirs)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    args.methods = args.methods.split(",")
    import faiss

    if args.threads:  # on a shared machine a second thread often waits for a core another process holds
        import torch
        from threadpoolctl import threadpool_limits  # installed with scikit-learn

        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
        threadpool_limits(args.threads)

    print(machine_line())
    print(
        f"faiss {faiss.__version__} ({faiss.omp_get_max_threads()} OpenMP threads), numpy {np.__version__}, "
        f"{os.cpu_count()} cores; load average at start {load_average()}"
    )
    rows = []
    for kind in args.data.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            rows += bench_one(kind, n, args)
    print(f"load average at end {load_average()}")
    headers = ["data", "N", "method", "p50 ms", "p95 ms", f"batch {args.batch} ms", "x numpy p50", "x numpy batch",
               "recall@10", "build s", "tuned at build", "load"]  # fmt: skip
    print(
        table(
            headers,
            [
                [
                    r["data"],
                    f"{r['n']:,}",
                    r["method"],
                    r["p50_ms"],
                    r["p95_ms"],
                    r["batch_ms"],
                    r.get("x_numpy_p50", float("nan")),
                    r.get("x_numpy_batch", float("nan")),
                    r["recall@10"],
                    r.get("build_s", 0.0),
                    f"{r['tuned']['knob']}={r['tuned']['value']}, {r['tuned']['recall@10']:.3f}"
                    if r.get("tuned")
                    else "",
                    r["load"],
                ]  # fmt: skip
                for r in rows
            ],
        )
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
