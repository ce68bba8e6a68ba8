"""`evaluate` at scale: time and peak memory at 1k, 10k and 100k items, precomputed path and CLI.

    .venv/bin/python -m bench.bench_evaluate [--sizes 1000,10000,100000] [--dim 512] [--cli-size 10000]
                                             [--profile SIZE] [--json out.json]

Data: N random items, half text and half image (100k = 50k text + 50k image), one-to-one pairs. Text i
is a random Gaussian direction g_i in D=512 dimensions, image i is g_i + 4 * noise (cosine to its caption
about 0.24, to a random item about +-0.04), all rows normalised: retrieval is neither trivial nor hopeless,
so the error list is realistic (large), as are hubness and the threshold curve.

Each size runs in a fresh child process, so the RSS high-water marks (`ru_maxrss`) do not mix. The child
reports: RSS after imports, the seconds of `from_arrays` (validation + normalisation) and of `evaluate`
(both directions, metrics with and without the modality gap, hubness, threshold curve, assignment when
<= 5,000 per side, errors), and the peak RSS. `--cli-size` also runs `alignment.cli.main(["evaluate",
X.npz, ...])` on an .npz of that size in its own child (load + evaluate + metrics.json, errors.csv,
report.html). `--profile SIZE` prints the top functions of a cProfile run of `evaluate` at that size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .machine import ROOT, load_average, machine_line, table

NOISE = 4.0


def make_arrays(n_items: int, dim: int, seed: int = 0) -> tuple[list[str], list[str], list[str], object]:
    """Columns for `from_arrays`: n_items // 2 texts then as many images, pair i joins text i and image i."""
    import numpy as np

    half = n_items // 2
    rng = np.random.default_rng(seed)
    texts = rng.standard_normal((half, dim), dtype=np.float32)  # (half, D)
    images = texts + NOISE * rng.standard_normal((half, dim), dtype=np.float32)  # (half, D)
    ids = [f"t{i}" for i in range(half)] + [f"i{i}" for i in range(half)]
    pairs = [str(i) for i in range(half)] * 2
    return ids, ["text"] * half + ["image"] * half, pairs, np.concatenate([texts, images])


def peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------------------- children


def child_library(n_items: int, dim: int, profile: bool) -> dict:
    from alignment.analysis.evaluate import evaluate
    from alignment.inputs.embeddings import from_arrays

    imported = peak_mb()
    columns = make_arrays(n_items, dim)
    start = time.perf_counter()
    embedded = from_arrays(*columns)  # type: ignore[arg-type]
    load_s = time.perf_counter() - start
    del columns
    before = peak_mb()
    start = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(evaluate, {"bench": embedded})
        stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative")
        stats.print_stats(25)
    else:
        result = evaluate({"bench": embedded})
    evaluate_s = time.perf_counter() - start
    metrics = result.directions["text->image"].metrics
    return {
        "items": n_items,
        "mode": "library",
        "imports_rss_mb": imported,
        "from_arrays_s": load_s,
        "rss_before_evaluate_mb": before,
        "evaluate_s": evaluate_s,
        "peak_rss_mb": peak_mb(),
        "r1_text_image": metrics.r1,
        "errors": len(result.errors),
        "notes": result.notes,
    }


def child_cli(n_items: int, dim: int) -> dict:
    from alignment.inputs.embeddings import from_arrays, save_npz

    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        path = save_npz(Path(tmp) / "bench.npz", from_arrays(*make_arrays(n_items, dim)))  # type: ignore[arg-type]
        out = Path(tmp) / "out"
        # the .npz is written by this process: ru_maxrss includes making it, so measure the CLI in a grandchild
        code = f"""
import json, resource, sys, time
start = time.perf_counter()
from alignment.cli import main
rc = main(["evaluate", {str(path)!r}, "--out", {str(out)!r}, "--quiet"])
print(json.dumps({{"rc": rc, "seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}), file=sys.stderr)
"""
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        measured = json.loads(done.stderr.strip().splitlines()[-1])
        sizes = {p.name: round(p.stat().st_size / 1e6, 2) for p in out.iterdir()}
        npz_mb = round(path.stat().st_size / 1e6, 1)
    return {
        "items": n_items,
        "mode": "cli",
        "cli_s": measured["seconds"],
        "peak_rss_mb": measured["peak_rss_mb"],
        "rc": measured["rc"],
        "npz_mb": npz_mb,
        "outputs_mb": sizes,
    }


def run_child(args: list[str], timeout: float) -> dict:
    """One measurement in a fresh interpreter; its last stdout line is the JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_evaluate", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-3000:]}")
    if done.stderr.strip():
        print(done.stderr, file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- parent


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="items per run (half text, half image)")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--cli-size", type=int, default=10_000, help="also time the CLI at this size (0: skip)")
    parser.add_argument("--profile", type=int, default=0, metavar="SIZE", help="cProfile evaluate at this size")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per child")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", choices=["library", "cli"], help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # inside a fresh process: measure once, print one JSON line
        result = (
            child_library(args.items, args.dim, args.profile > 0)
            if args.child == "library"
            else child_cli(args.items, args.dim)
        )
        print(json.dumps(result))
        return result

    print(machine_line(), flush=True)
    rows, results = [], []
    for size in [int(s) for s in args.sizes.split(",") if s]:
        load = load_average()
        wall = time.perf_counter()
        r = run_child(
            [
                "--child",
                "library",
                "--items",
                str(size),
                "--dim",
                str(args.dim),
                "--profile",
                str(int(args.profile == size)),
            ],
            args.timeout,
        )
        r["load_average"], r["child_wall_s"] = load, time.perf_counter() - wall
        results.append(r)
        print(
            f"  {size:,} items: evaluate {r['evaluate_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MiB (load {load})",
            flush=True,
        )
        rows.append(
            [
                f"{size:,} ({size // 2:,} + {size // 2:,})",
                "library",
                f"{r['from_arrays_s']:.2f}",
                f"{r['evaluate_s']:.2f}",
                f"{r['imports_rss_mb']:.0f}",
                f"{r['rss_before_evaluate_mb']:.0f}",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['r1_text_image']:.3f}",
                f"{r['errors']:,}",
                load,
            ]
        )
    if args.cli_size:
        load = load_average()
        r = run_child(["--child", "cli", "--items", str(args.cli_size), "--dim", str(args.dim)], args.timeout)
        r["load_average"] = load
        results.append(r)
        print(
            f"  CLI {args.cli_size:,} items: {r['cli_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MiB, "
            f"outputs {r['outputs_mb']} MB",
            flush=True,
        )
        rows.append(
            [
                f"{args.cli_size:,} ({args.cli_size // 2:,} + {args.cli_size // 2:,})",
                "CLI (.npz)",
                "–",
                f"{r['cli_s']:.2f} (all)",
                "–",
                "–",
                f"{r['peak_rss_mb']:.0f}",
                "–",
                "–",
                load,
            ]
        )
    print()
    print(
        table(
            [
                "items (text + image)",
                "path",
                "from_arrays s",
                "evaluate s",
                "RSS imports MiB",
                "RSS before MiB",
                "peak RSS MiB",
                "R@1 t->i",
                "errors",
                "load avg",
            ],
            rows,
        )
    )
    out = {"machine": machine_line(), "dim": args.dim, "results": results}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
