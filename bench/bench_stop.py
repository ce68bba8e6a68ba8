"""How soon Stop (or ALIGN_JOB_SECONDS) ends an evaluation of precomputed embeddings, which runs no model: the job's
stop signal is set at fractions of the evaluation's own duration, and the time to its JobStopped is measured.

    .venv/bin/python -m bench.bench_stop --pairs 40000
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Sequence

import numpy as np

from alignment.analysis.evaluate import evaluate
from alignment.inputs.embeddings import from_arrays
from alignment.models.turns import JobStopped, job
from bench.machine import machine_line

FRACTIONS = (0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9)  # the scan, the threshold, the one-to-one assignment


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40_000, help="pairs (text, image): 2 x pairs rows")
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args(argv)
    print(machine_line(), flush=True)
    n = args.pairs
    x = np.random.default_rng(0).normal(size=(2 * n, args.dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [f"t{i}" for i in range(n)] + [f"i{i}" for i in range(n)]
    data = from_arrays(ids, ["text"] * n + ["image"] * n, [str(i) for i in range(n)] * 2, x)
    evaluate({"emb": data})  # compile and warm up
    start = time.perf_counter()
    evaluate({"emb": data})
    full = time.perf_counter() - start
    latencies: list[float] = []
    for fraction in FRACTIONS:
        stop, ended = threading.Event(), {}

        def run(stop: threading.Event = stop, ended: dict = ended) -> None:
            try:
                with job(seconds=None, stop=stop):
                    evaluate({"emb": data})
            except JobStopped:
                ended["at"] = time.perf_counter()

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(fraction * full)
        asked = time.perf_counter()
        stop.set()
        thread.join()
        latencies.append(ended["at"] - asked if "at" in ended else float("nan"))  # nan: it finished first
    landed = [v for v in latencies if not np.isnan(v)]
    result = {
        "rows": 2 * n,
        "evaluation_s": round(full, 2),
        "stop_latency_s": [round(v, 3) for v in latencies],
        "finished_before_the_stop": len(latencies) - len(landed),
        "median_s": round(statistics.median(landed), 3) if landed else None,
        "max_s": round(max(landed), 3) if landed else None,
    }
    print(result)
    return result


if __name__ == "__main__":
    main()
