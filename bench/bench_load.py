"""Many visitors on one server: latency under load, refusals, memory per session, and fairness between visitors.

    .venv/bin/python -m bench.bench_load [--sessions 100] [--clients 20] [--compares 10] [--burst 200] [--json out.json]

One `python app.py --preset tiny` on a fresh ALIGN_CACHE (ALIGN_SESSION_TTL=120 so ended sessions expire within
the run), driven through gradio_client, each simulated visitor its own Client (its own session). The app returns
freed memory to the system every 20 s (ui/memory.py); "settled" below means measured after waiting for that, i.e.
the server's resting size rather than its allocator's high-water mark from the last burst.

1. warm baseline: settled RSS after the first visitor's compare of the bundled example;
2. idle sessions: `--sessions` new visitors, 4 at a time, each one compare of the bundled example and then idle with
   the page open; settled RSS against the baseline, per session (the issue's "idle memory per session");
3. steady load: `--clients` visitors at once, each `--compares` compares in a row, each compare from a new Client
   (the bundled example, then a text and an image of its own, so half are new work): latency p50/p95/p99, refusals,
   RSS and how much it grew;
4. page loads: `--burst` GET / at the same moment: latency, RSS and its growth (no session is made);
5. burst: `--burst` visitors whose pages are open (their clients made beforehand, 8 at a time) send one compare
   each at the same moment: latency percentiles, refusals (a full queue or the per-visitor limit say "busy"), RSS.
   (A burst of new gradio_client Clients measures the client library instead: 200 made at once in one process
   mostly time out after its 20 s default.);
6. all sessions alive (settled) and, once every page has closed and every session's results have expired, the
   settled RSS against the warm baseline;
7. fairness: one visitor evaluates an 80,000-row embeddings file while another compares one image; that compare's
   latency against the same compare on an idle server.

Absolute times depend on the machine's load (noted with each figure); the ratios are what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .bench_app import free_port, wait_ready
from .machine import ROOT, load_average, machine_line, rss_mb, table

SESSION_TTL = 120  # seconds: longer than phase 2 takes to make and settle its sessions, so none expires before
SETTLE = 25  # seconds: the app's memory trim (every 20 s) has run since the last request
EXAMPLES = json.loads((ROOT / "assets" / "examples.json").read_text())
IMAGES = sorted((ROOT / "assets" / "images").glob("*.jpg"))


def bundled() -> tuple[str, list[str], list[str]]:
    first = EXAMPLES[0]
    return (
        "\n".join(first["texts"]),
        [str(ROOT / "assets" / p) for p in first["images"]],
        [str(ROOT / "assets" / p) for p in first["audio"]],
    )


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3)}


class Server:
    """The app in a child process, on a free port and its own cache."""

    def __init__(self, cache: str, *, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        full = {
            **os.environ,
            "ALIGN_CACHE": cache,
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "ALIGN_SESSION_TTL": str(SESSION_TTL),
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }
        self.log = Path(cache) / f"app-{self.port}.log"
        self.process = subprocess.Popen(
            [sys.executable, "app.py", "--preset", "tiny"],
            cwd=ROOT,
            env=full,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def ready(self, timeout: float = 600) -> float:
        return wait_ready(self.url, self.process, timeout=timeout)

    def rss(self) -> float:
        return rss_mb(self.process.pid)[0]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def compare_call(
    url: str,
    text: str,
    images: list[str],
    audio: list[str],
    *,
    client: object = None,
    ready: threading.Barrier | None = None,
) -> tuple[float, str | None]:
    """(seconds, None) for one /compare of a new visitor, or (seconds, why it was refused or failed). With `client`,
    a visitor whose page is already open (its Client made beforehand); with `ready`, it waits for the others first."""
    from gradio_client import Client, handle_file

    if ready is not None:
        ready.wait()
    start = time.perf_counter()
    try:
        client = client or Client(url, verbose=False, download_files=False, analytics_enabled=False)
        client.predict(  # type: ignore[attr-defined]
            text, None, [handle_file(p) for p in images], [handle_file(p) for p in audio], "cosine", api_name="/compare"
        )
    except Exception as exc:  # a refusal or a failure, counted and named
        return time.perf_counter() - start, " ".join(str(exc).split())[:160]
    return time.perf_counter() - start, None


def page_load(url: str, ready: threading.Barrier) -> tuple[float, str | None]:
    """(seconds, None) for one GET of the page (the HTML with the app's config), started with the others."""
    import urllib.request

    ready.wait()
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            response.read()
    except Exception as exc:
        return time.perf_counter() - start, " ".join(str(exc).split())[:160]
    return time.perf_counter() - start, None


def open_pages(url: str, n: int) -> list[object]:
    """n visitors' API clients (each its own session), made 8 at a time: pages already open before a burst."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    def make(_: int) -> object:
        return Client(url, verbose=False, download_files=False, analytics_enabled=False, httpx_kwargs={"timeout": 300})

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(make, range(n)))


def visitors(n: int, work: Callable[[int], list[tuple[float, str | None]]]) -> list[tuple[float, str | None]]:
    """Run `work(i)` for n visitors at once; every call's (seconds, problem)."""
    results: list[tuple[float, str | None]] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        out = work(i)
        with lock:
            results.extend(out)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def summary(name: str, results: list[tuple[float, str | None]], server: Server, before: float) -> dict:
    """One scenario's row: latency of what was answered, refusals, RSS right after and how much it grew."""
    ok = [s for s, problem in results if problem is None]
    refused = [p for _, p in results if p is not None]
    rss = server.rss()
    return {
        "scenario": name,
        "requests": len(results),
        "ok": len(ok),
        "refused": len(refused),
        "refusal_examples": sorted(set(refused))[:3],
        **percentiles(ok),
        "rss_mb": round(rss),
        "grew_mb": round(rss - before),
        "load": load_average(),
    }


def settled(server: Server) -> float:
    """RSS once the app has returned freed memory to the system (its trim runs every 20 s)."""
    time.sleep(SETTLE)
    return server.rss()


def idle_sessions(server: Server, n: int, text: str, images: list[str], audio: list[str]) -> tuple[list, list]:
    """n visitors, 4 at a time, each its own open page (Client) and one compare of the bundled example; their
    clients (kept open: idle visitors) and every call's (seconds, problem)."""
    from concurrent.futures import ThreadPoolExecutor

    clients = open_pages(server.url, n)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: compare_call(server.url, text, images, audio, client=c), clients))
    return clients, results


def close(clients: list[object]) -> None:
    """Close the visitors' pages: their heartbeats end and the server marks the sessions closed. (Each close waits
    up to 1 s for its heartbeat thread, hence many at once.)"""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(lambda client: client.close(), clients))  # type: ignore[attr-defined]


def fairness(server: Server, tmp: str) -> dict:
    """A one-image compare's latency alone, then while another visitor evaluates an 80,000-row embeddings file."""
    from gradio_client import Client, handle_file

    from alignment.inputs.embeddings import from_arrays, save_npz

    rng = np.random.default_rng(0)
    n = 40_000
    x = rng.normal(size=(2 * n, 128)).astype(np.float32)  # D=128: 41 MB, under the 50 MB upload limit
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [f"t{i}" for i in range(n)] + [f"i{i}" for i in range(n)]
    pairs = [str(i) for i in range(n)] * 2
    path = save_npz(Path(tmp) / "big.npz", from_arrays(ids, ["text"] * n + ["image"] * n, pairs, x))

    def one_compare() -> float:
        return compare_call(server.url, "a cat on a sofa", [str(IMAGES[1])], [])[0]

    alone = [one_compare() for _ in range(3)]
    evaluation: dict[str, float] = {}

    def evaluate() -> None:
        start = time.perf_counter()
        client = Client(server.url, verbose=False, download_files=False, analytics_enabled=False)
        client.predict(handle_file(str(path)), False, "skip", "", "", api_name="/evaluate")
        evaluation["seconds"] = time.perf_counter() - start

    long_job = threading.Thread(target=evaluate)
    long_job.start()
    time.sleep(5)  # the evaluation is under way
    during = [one_compare() for _ in range(3)]
    long_job.join()
    return {
        "compare_alone_s": round(statistics.median(alone), 3),
        "compare_during_evaluation_s": round(statistics.median(during), 3),
        "evaluation_s": round(evaluation.get("seconds", float("nan")), 1),
        "load": load_average(),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100, help="idle sessions measured on their own (phase 2)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--compares", type=int, default=10)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    print(machine_line(), flush=True)
    text, images, audio = bundled()
    results: dict = {"machine": machine_line()}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as cache:
        server = Server(cache)
        try:
            results["page_ready_s"] = round(server.ready(), 2)
            compare_call(server.url, text, images, audio)  # the first visitor: prepares the example
            baseline = settled(server)
            results["rss_warm_mb"] = round(baseline)
            print(f"warm baseline RSS {baseline:.0f} MiB (settled)", flush=True)

            start = time.perf_counter()
            idle, calls = idle_sessions(server, args.sessions, text, images, audio)
            alive = settled(server)
            took = time.perf_counter() - start
            results["idle_sessions"] = {
                "sessions": args.sessions,
                "ok": sum(problem is None for _, problem in calls),
                "rss_mb": round(alive),
                "mb_per_session": round((alive - baseline) / args.sessions, 3),
                "seconds": round(took, 1),
                "load": load_average(),
            }
            if took >= SESSION_TTL:
                print(f"warning: phase 2 took {took:.0f} s >= ALIGN_SESSION_TTL: some sessions expired", flush=True)
            print(results["idle_sessions"], flush=True)

            def steady(i: int) -> list[tuple[float, str | None]]:
                out = []
                for n in range(args.compares):
                    if n % 2 == 0:
                        out.append(compare_call(server.url, text, images, audio))
                    else:
                        own = f"visitor {i} asks about picture {n}"
                        out.append(compare_call(server.url, own, [str(IMAGES[(i + n) % len(IMAGES)])], []))
                return out

            before = server.rss()
            rows = [
                summary(
                    f"{args.clients} visitors x {args.compares} compares",
                    visitors(args.clients, steady),
                    server,
                    before,
                )
            ]
            print(rows[-1], flush=True)
            before = server.rss()
            loads = threading.Barrier(args.burst)
            pages = visitors(args.burst, lambda i: [page_load(server.url, loads)])
            rows.append(summary(f"{args.burst} page loads at the same moment (GET /)", pages, server, before))
            print(rows[-1], flush=True)
            clients = open_pages(server.url, args.burst)
            ready = threading.Barrier(args.burst)
            before = server.rss()
            burst = visitors(
                args.burst,
                lambda i: [compare_call(server.url, text, images, audio, client=clients[i], ready=ready)],
            )
            rows.append(
                summary(f"burst: {args.burst} open pages send one compare at the same moment", burst, server, before)
            )
            print(rows[-1], flush=True)
            # every compare of the steady load came from a new Client: a session each. By now the first of them
            # have expired (ALIGN_SESSION_TTL), so this is the crowd's residue, not only sessions.
            sessions = 1 + args.sessions + args.clients * args.compares + args.burst
            everyone = settled(server)
            results["sessions"] = sessions
            results["rss_after_scenarios_mb"] = round(everyone)
            results["mb_per_session_all_scenarios"] = round((everyone - baseline) / sessions, 3)
            close(idle + clients)
            time.sleep(SESSION_TTL + 5)  # every session's results have expired (gradio sweeps each second)
            ended = settled(server)
            results["rss_sessions_ended_mb"] = round(ended)
            results["ended_vs_warm"] = round(ended / baseline, 3)
            results["scenarios"] = rows
            results["fairness"] = fairness(server, cache)
            print(results["fairness"], flush=True)
        finally:
            server.stop()
    print(
        table(
            ["scenario", "requests", "ok", "refused", "p50 s", "p95 s", "p99 s", "RSS MiB", "grew MiB", "load"],
            [
                [
                    r["scenario"],
                    r["requests"],
                    r["ok"],
                    r["refused"],
                    r["p50"],
                    r["p95"],
                    r["p99"],
                    r["rss_mb"],
                    r["grew_mb"],
                    r["load"],
                ]
                for r in rows
            ],
        )
    )
    f = results["fairness"]
    r = results
    i = r["idle_sessions"]
    print(
        f"\nwarm RSS {r['rss_warm_mb']} MiB (settled); {i['sessions']} idle sessions of the bundled example "
        f"({i['ok']} compares answered): {i['rss_mb']} MiB settled, {i['mb_per_session']} MiB each\n"
        f"after every scenario ({r['sessions']} sessions made) {r['rss_after_scenarios_mb']} MiB settled "
        f"({r['mb_per_session_all_scenarios']} MiB per session made, the scenarios' growth included); pages closed and "
        f"every session expired {r['rss_sessions_ended_mb']} MiB settled (x{r['ended_vs_warm']} the warm baseline)"
    )
    print(
        f"fairness: a one-image compare takes {f['compare_alone_s']} s alone and {f['compare_during_evaluation_s']} s "
        f"while another visitor's 80,000-row evaluation runs ({f['evaluation_s']} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
