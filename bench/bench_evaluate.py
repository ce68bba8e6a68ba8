"""`python -m alignment evaluate` at scale against the same run's GEMM floor and FAISS flat search, and the cost
of each hubness correction relative to plain evaluation.

    .venv/bin/python -m bench.bench_evaluate [--sizes 10000,50000,100000] [--hubness-sizes 10000,50000]
                                             [--dim 512] [--json out.json]

Data: N random items, half text and half image, one-to-one pairs (100k = 50k texts + 50k images). Text i is
a Gaussian direction g_i in D = 512 dimensions, image i = g_i + 4 * noise (cosine ~0.24 to its caption,
~+-0.04 to anything else), rows normalised. The qbnorm bank: 1,000 more texts from the same distribution.

Per size, `--rounds` rounds (default 3), each measurement in a fresh process (neither memory nor caches mix):
the floor (numpy float32 `X @ Y.T` of the same shape, then FAISS `IndexFlatIP` top-10 of every text over the
images), then the whole CLI on an .npz (`alignment.cli.main(["evaluate", X.npz, "--out", DIR])`: load,
evaluate, metrics.json, errors.csv, report.html; the evaluate call is also timed alone) and, at the hubness
sizes, the CLI with each `--hubness` method. On a shared machine the least-disturbed round is the fairest
view, so each figure is its minimum over the rounds, next to the median of the per-round ratios. Every
figure has wall and CPU seconds (user + system of the process); the load average is read before each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .machine import ROOT, load_average, machine_line, table

NOISE = 4.0
BANK = 1_000
GEMM_ROWS = 25_000  # rows of X per GEMM call: 25k x 50k float32 = 5 GB, so 100k fits a shared 24 GB machine


def arrays(n_items: int, dim: int, seed: int = 0) -> tuple[list[str], list[str], list[str], object, object]:
    """Columns for `from_arrays` (n_items // 2 texts then as many images) and a bank of BANK more texts."""
    import numpy as np

    half = n_items // 2
    rng = np.random.default_rng(seed)
    texts = rng.standard_normal((half, dim), dtype=np.float32)  # (half, D)
    images = texts + NOISE * rng.standard_normal((half, dim), dtype=np.float32)  # (half, D)
    bank = rng.standard_normal((BANK, dim), dtype=np.float32)  # (BANK, D)
    ids = [f"t{i}" for i in range(half)] + [f"i{i}" for i in range(half)]
    pairs = [str(i) for i in range(half)] * 2
    return ids, ["text"] * half + ["image"] * half, pairs, np.concatenate([texts, images]), bank


def cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def clock(fn: object) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn()  # type: ignore[operator]
    return time.perf_counter() - wall, cpu_seconds() - cpu


# ---------------------------------------------------------------------------- children (one measurement each)


def child_floor(n_items: int, dim: int, with_faiss: bool) -> dict:
    """The GEMM of the pair's shape (float32, numpy), and FAISS flat top-10 of every text over the images."""
    from alignment.inputs.embeddings import from_arrays

    ids, modality, pairs, vectors, _ = arrays(n_items, dim)
    data = from_arrays(ids, modality, pairs, vectors)
    half = n_items // 2
    x, y = data.embeddings[:half], data.embeddings[half:]

    def gemm() -> None:
        for s in range(0, half, GEMM_ROWS):  # one product up to 50k items, two halves at 100k (5 GB each)
            scores = x[s : s + GEMM_ROWS] @ y.T  # (r, D) @ (D, Ny) -> (r, Ny) float32, allocated as `X @ Y.T` is
            del scores

    result = {"load": load_average()}
    result["gemm_s"], result["gemm_cpu_s"] = clock(gemm)
    if with_faiss:
        import faiss

        def flat() -> None:
            index = faiss.IndexFlatIP(dim)
            index.add(y)
            index.search(x, 10)

        result["faiss_s"], result["faiss_cpu_s"] = clock(flat)
        result["faiss_threads"] = faiss.omp_get_max_threads()
    return result


CLI_CODE = """
import json, resource, sys, time
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF); return u.ru_utime + u.ru_stime
import alignment.cli.evaluate as command
from alignment.cli import main
inner = {}
real = command.evaluate
def timed(*a, **k):
    wall, c = time.perf_counter(), cpu()
    out = real(*a, **k)
    inner["evaluate_s"], inner["evaluate_cpu_s"] = time.perf_counter() - wall, cpu() - c
    return out
command.evaluate = timed
wall, c = time.perf_counter(), cpu()
rc = main(sys.argv[1:])
inner.update(rc=rc, cli_s=time.perf_counter() - wall, cli_cpu_s=cpu() - c,
             peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(inner), file=sys.stderr)
"""


def child_cli(n_items: int, dim: int, methods: Sequence[str]) -> list[dict]:
    """The whole CLI on an .npz, plainly and with each correction; each run in its own interpreter."""
    import numpy as np

    from alignment.inputs.embeddings import from_arrays, save_npz

    ids, modality, pairs, vectors, bank = arrays(n_items, dim)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        path = save_npz(Path(tmp) / "bench.npz", from_arrays(ids, modality, pairs, vectors))
        bank_path = save_npz(
            Path(tmp) / "bank.npz",
            from_arrays([f"b{i}" for i in range(BANK)], ["text"] * BANK, [f"b{i}" for i in range(BANK)],
                        np.asarray(bank), require_pairs=False),
        )  # fmt: skip
        del vectors, bank
        for method in ["none", *methods]:
            out = Path(tmp) / f"out-{method}"
            extra = ["--hubness", method] + (["--query-bank", str(bank_path)] if method == "qbnorm" else [])
            load = load_average()
            done = subprocess.run(
                [sys.executable, "-c", CLI_CODE, "evaluate", str(path), "--out", str(out), "--quiet", *extra],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            measured = json.loads(done.stderr.strip().splitlines()[-1])
            metrics = json.loads((out / "metrics.json").read_text())
            measured.update(method=method, load=load, r1=metrics["text->image"]["R@1"], notes=metrics["notes"])
            measured["backend"] = metrics["backend"]
            if method != "none":
                after = metrics["hubness_correction"]["directions"]["text->image"]
                measured["r1_after"] = after["after"]["R@1"]
                measured["skew"] = (after["before"]["hub_skew"], after["after"]["hub_skew"])
            measured["assignment"] = metrics["assignment"]["text->image"]
            results.append(measured)
            print(f"    CLI {method}: {measured['cli_s']:.1f} s (evaluate {measured['evaluate_s']:.1f} s)", flush=True)
    return results


def run_child(args: list[str], timeout: float) -> object:
    """One measurement in a fresh interpreter; its last stdout line is the JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_evaluate", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-3000:]}")
    if done.stderr.strip():
        print(done.stderr.strip(), file=sys.stderr)
    lines = done.stdout.rstrip().splitlines()
    for line in lines[:-1]:
        print(line, flush=True)
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------- parent


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000", help="items per run (half text, half image)")
    parser.add_argument("--hubness-sizes", default="10000,50000", help="sizes that also run every correction")
    parser.add_argument("--methods", default="csls,isf,qbnorm", help="corrections timed at the hubness sizes")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (floor, CLI) per size: the minimum counts")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--no-faiss", action="store_true", help="skip the FAISS baseline")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per child")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", choices=["floor", "cli"], help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--faiss", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]

    if args.child:  # inside a fresh process: measure, print one JSON line
        if args.child == "floor":
            print(json.dumps(child_floor(args.items, args.dim, bool(args.faiss))))
        else:
            print(json.dumps(child_cli(args.items, args.dim, methods)))
        return {}

    print(machine_line(), flush=True)
    hub_sizes = {int(s) for s in args.hubness_sizes.split(",") if s}
    results, rows, cost_rows = [], [], []
    for size in [int(s) for s in args.sizes.split(",") if s]:
        common = ["--items", str(size), "--dim", str(args.dim)]
        floors, clis = [], []
        for r in range(args.rounds):  # the machine is shared: alternate, and keep each figure's least-disturbed run
            print(f"  {size:,} items, round {r + 1} of {args.rounds}", flush=True)
            floors.append(
                run_child(["--child", "floor", *common, "--faiss", str(int(not args.no_faiss))], args.timeout)
            )
            clis.append(
                run_child(
                    ["--child", "cli", *common, "--methods", ",".join(methods if size in hub_sizes else [])],
                    args.timeout,
                )
            )
        results.append({"items": size, "floors": floors, "clis": clis})
        best = lambda key, items: min(i[key] for i in items)  # noqa: E731
        gemm, gemm_cpu = best("gemm_s", floors), best("gemm_cpu_s", floors)
        plain = [c[0] for c in clis]  # type: ignore[index]
        paired = sorted(c["cli_s"] / f["gemm_s"] for c, f in zip(plain, floors, strict=True))
        faiss = best("faiss_s", floors) if "faiss_s" in floors[0] else None
        rows.append(
            [
                f"{size:,} ({size // 2:,} + {size // 2:,})",
                f"{gemm:.2f} (CPU {gemm_cpu:.2f})",
                f"{faiss:.2f} (CPU {best('faiss_cpu_s', floors):.2f})" if faiss else "–",
                f"{best('evaluate_s', plain):.2f} (CPU {best('evaluate_cpu_s', plain):.2f})",
                f"{best('cli_s', plain):.2f} (CPU {best('cli_cpu_s', plain):.2f})",
                f"{best('cli_s', plain) / gemm:.2f}",
                f"{best('cli_cpu_s', plain) / gemm_cpu:.2f}",
                f"{paired[len(paired) // 2]:.2f} ({paired[0]:.2f}-{paired[-1]:.2f})",
                f"{best('cli_s', plain) / faiss:.2f}" if faiss else "–",
                f"{best('peak_rss_mb', plain):.0f}",
                f"{plain[0]['r1']:.3f}",
                plain[0]["assignment"].get("method", "–"),
                " / ".join(f["load"].split()[0] for f in floors),
            ]
        )
        for k, method in enumerate(methods if size in hub_sizes else [], start=1):
            runs = [c[k] for c in clis]  # type: ignore[index]
            paired = sorted(r["cli_s"] / p["cli_s"] for r, p in zip(runs, plain, strict=True))
            cost_rows.append(
                [
                    f"{size:,}",
                    method,
                    f"{best('cli_s', plain):.2f}",
                    f"{best('cli_s', runs):.2f}",
                    f"{best('cli_s', runs) / best('cli_s', plain):.2f}",
                    f"{best('cli_cpu_s', runs) / best('cli_cpu_s', plain):.2f}",
                    f"{paired[len(paired) // 2]:.2f}",
                    f"{(best('cli_cpu_s', runs) - best('cli_cpu_s', plain)) / gemm_cpu:.2f}",
                    f"{runs[0]['r1']:.3f} -> {runs[0]['r1_after']:.3f}",
                    f"{runs[0]['skew'][0]:.2f} -> {runs[0]['skew'][1]:.2f}",
                ]
            )
    print()
    print(
        table(
            [
                "items (text + image)",
                "GEMM s",
                "FAISS flat top-10 s",
                "evaluate s",
                "whole CLI s",
                "CLI / GEMM",
                "CLI / GEMM (CPU)",
                "CLI / GEMM per round: median (range)",
                "CLI / FAISS",
                "peak RSS MiB",
                "R@1 t->i",
                "assignment",
                "1-min load per round",
            ],
            rows,
        )
    )
    if cost_rows:
        print()
        print(
            table(
                [
                    "items",
                    "correction",
                    "plain CLI s",
                    "corrected CLI s",
                    "ratio",
                    "ratio (CPU)",
                    "ratio per round: median",
                    "extra CPU / GEMM CPU",
                    "R@1 t->i",
                    "hub skew t->i",
                ],
                cost_rows,
            )
        )
    out = {"machine": machine_line(), "dim": args.dim, "results": results, "cpus": os.cpu_count()}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
