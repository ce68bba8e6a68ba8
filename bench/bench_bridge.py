"""Bridge fitting (procrustes, ridge, mlp) and fusion training (mean, concat, weighted, attention) time vs N.

Synthetic CLIP-sized data (D = 512, unit rows from shared latents through random maps), so the numbers
measure the fitting code, not a model. The learned heads run a fixed number of epochs (patience = epochs,
so early stopping never fires) and the table gives seconds per epoch too; how many epochs a real fit needs
depends on the data (the bridge tests stop after ~30-100 epochs on small synthetic sets).

    .venv/bin/python -m bench.bench_bridge                       # N = 1k, 4k, 16k; 10 epochs
    .venv/bin/python -m bench.bench_bridge --sizes 1000 --epochs 5 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench.machine import load_average, machine_line, table

D = 512
K = 64  # latent concepts behind the synthetic embeddings


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """(src, tgt, views, item): a tanh-warped pair of 512-d spaces (bridge), and three 512-d modality views
    of items already in one space with their (N, D) target (fusion)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, K))
    src = _unit(z @ rng.standard_normal((K, D)) + 0.3 * rng.standard_normal((n, D)))
    tgt = _unit(np.tanh(z @ rng.standard_normal((K, D)) / np.sqrt(K) * 2))
    c = rng.standard_normal((K, D))
    item = _unit(z @ c)
    views = [
        _unit(z[:, a:b] @ c[a:b] + noise * rng.standard_normal((n, D)))
        for a, b, noise in ((0, 32, 0.3), (32, 64, 0.3), (0, 64, 1.0))
    ]  # one half, the other, all but noisy
    return src, tgt, views, item


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--epochs", type=int, default=10, help="epochs of each learned head (fixed)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch and BLAS threads for the whole run (default: as the libraries choose)",
    )
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)

    from alignment.space.bridge import MLPConfig, fit_bridge
    from alignment.space.contrastive import TrainConfig
    from alignment.space.fusion_training import compare_fusion_methods

    if args.threads:
        from threadpoolctl import threadpool_limits  # numpy/scipy's OpenBLAS; torch is set through TrainConfig

        threadpool_limits(args.threads)
    print(machine_line(), flush=True)
    config = TrainConfig(max_epochs=args.epochs, patience=args.epochs, cpu_threads=args.threads)
    warm_src, warm_tgt, _, _ = synthetic(100)  # the first optimiser imports torch._dynamo (seconds): not timed
    warm = MLPConfig(train=TrainConfig(max_epochs=1, cpu_threads=args.threads))
    fit_bridge(warm_src, warm_tgt, method="mlp", mlp=warm)
    rows = []
    for n in args.sizes:
        src, tgt, views, item = synthetic(n)
        for method in ("procrustes", "ridge", "mlp"):
            start = time.perf_counter()
            bridge = fit_bridge(src, tgt, method=method, seed=0, mlp=MLPConfig(train=config))  # type: ignore[arg-type]
            seconds = time.perf_counter() - start
            epochs = len(bridge.history.train)
            rows.append(
                [
                    "bridge",
                    method,
                    n,
                    seconds,
                    epochs or "-",
                    seconds / epochs if epochs else "-",
                    bridge.heldout["R@1"],
                    load_average().split()[0],
                ]
            )
            print(
                table(
                    ["kind", "method", "N", "s", "epochs", "s/epoch", "held-out R@1", "load 1m"], rows[-1:]
                ).splitlines()[-1],
                flush=True,
            )
        fusion_config = TrainConfig(
            max_epochs=args.epochs, patience=args.epochs, lr=3e-3, batch_size=128, cpu_threads=args.threads
        )
        start = time.perf_counter()
        comparison = compare_fusion_methods(views, item, seed=0, config=fusion_config, names=("a", "b", "ab"))
        for method, model in comparison.models.items():
            epochs = len(model.history.train)
            seconds = float(model.info["seconds"])  # type: ignore[arg-type]
            rows.append(
                [
                    "fusion",
                    method,
                    n,
                    seconds,
                    epochs or "-",
                    seconds / epochs if epochs else "-",
                    model.heldout["R@1"],
                    load_average().split()[0],
                ]
            )
            print(
                table(
                    ["kind", "method", "N", "s", "epochs", "s/epoch", "held-out R@1", "load 1m"], rows[-1:]
                ).splitlines()[-1],
                flush=True,
            )
        print(f"  fusion total {time.perf_counter() - start:.1f} s", flush=True)
    print()
    print(table(["kind", "method", "N", "s", "epochs", "s/epoch", "held-out R@1", "load 1m"], rows))
    print(f"load average at the end: {load_average()}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
