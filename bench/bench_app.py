"""First impression: page-ready against a bare `import gradio`, the bundled example, new uploads, warm compares.

    .venv/bin/python -m bench.bench_app [--only library,app,tiny] [--warm-repeats 3] [--json out.json]

- import gradio: `python -c "import gradio"` in a fresh process, the median of three, timed in this same run: the
  floor a Gradio app's page cannot beat, and the baseline of the page-ready ratio (target <= 1.5x).
- app and tiny: `python app.py --clip DIR --clap DIR` (the real-size random checkpoints of bench.models) and
  `python app.py --preset tiny`, each started twice on one fresh ALIGN_CACHE:
  1. first start (nothing prepared): seconds from spawn until GET / answers 200; then through gradio_client the
     bundled example's /compare (it waits for the models and its preparation), new uploads (real photos and
     Clotho clips: every embedding computed), and warm repeats of those uploads (every embedding cached);
  2. second start (the example prepared by the first): page ready, the bundled example's /compare (from disk,
     before the models are up), new uploads (waits for the models), warm repeats.
  Each /compare reports its server time (`timing.server_s` in its numbers) and the client's wall time.
- library: a fresh `python` child times imports, loading each real-size model, and `compare` cold / warm / no cache.

Downloads are excluded by construction (local directories, HF_HUB_OFFLINE=1). The checkpoints' files are
in the OS page cache after the first run, so "cold" means a new process, not a cold disk.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .machine import ROOT, SHARED, load_average, machine_line, rss_mb, table

if TYPE_CHECKING:
    from gradio_client import Client

EXAMPLES = ROOT / "assets" / "examples.json"


def first_example() -> dict:
    """The first bundled example set with absolute paths (what the app shows on load)."""
    example = json.loads(EXAMPLES.read_text())[0]
    return {
        "texts": example["texts"],
        "images": [str(ROOT / "assets" / p) for p in example["images"]],
        "audio": [str(ROOT / "assets" / p) for p in example["audio"]],
    }


def child_env(cache: str) -> dict[str, str]:
    return {
        **os.environ,
        "ALIGN_CACHE": cache,
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
    }


# ---------------------------------------------------------------------------- library phases (child process)


class StepClock:
    """A `compare` progress callback that times each reported step (decode, each tower, scoring)."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, str]] = []

    def __call__(self, fraction: float, message: str) -> None:
        self.marks.append((time.perf_counter(), message))

    def durations(self) -> dict[str, float]:
        pairs = zip(self.marks, self.marks[1:], strict=False)  # (mark, next mark)
        return {message: round(t1 - t0, 3) for (t0, message), (t1, _) in pairs}


def library_child(out: Path, warm_repeats: int) -> None:
    """Runs in a fresh interpreter: time + memory of each phase, written as JSON to `out`."""
    phases: list[dict] = []

    def mark(name: str, seconds: float, **extra: object) -> None:
        current, high = rss_mb()
        phases.append(
            {"phase": name, "seconds": round(seconds, 3), "rss_mb": round(current), "peak_rss_mb": round(high), **extra}
        )
        print(f"  {name}: {seconds:.2f} s, RSS {current:.0f} MiB, peak {high:.0f} MiB", flush=True)

    import transformers

    from alignment.analysis.compare import compare
    from alignment.models.cache import EmbeddingCache
    from alignment.models.encoders import Encoders
    from alignment.models.factory import load_encoder

    from . import models

    transformers.utils.logging.disable_progress_bar()
    mark("process start + imports (torch, transformers, alignment)", process_age())
    clip_dir, clap_dir = str(models.ensure("clip")), str(models.ensure("clap"))
    start = time.perf_counter()
    clip = load_encoder("clip", clip_dir)
    mark("load CLIP ViT-B/32", time.perf_counter() - start)
    start = time.perf_counter()
    clap = load_encoder("clap", clap_dir)
    mark("load CLAP HTSAT", time.perf_counter() - start)
    encoders = Encoders(clip, clap)  # type: ignore[arg-type]
    example = first_example()
    cache = EmbeddingCache(Path(tempfile.mkdtemp(prefix="bench-cache-")))
    args = (encoders, example["texts"], example["images"], example["audio"])
    steps = StepClock()
    start = time.perf_counter()
    first = compare(*args, cache=cache, progress=steps)
    computed = sum(s.computed for s in first.stats.values())
    mark("compare #1, cache empty", time.perf_counter() - start, computed=computed, steps=steps.durations())
    times = []
    for _ in range(warm_repeats):
        start = time.perf_counter()
        warm = compare(*args, cache=cache)
        times.append(time.perf_counter() - start)
    mark(
        f"compare, cache hit (median of {warm_repeats})",
        statistics.median(times),
        hits=sum(s.hits for s in warm.stats.values()),
        runs=[round(t, 3) for t in times],
    )
    steps = StepClock()
    start = time.perf_counter()
    compare(*args, cache=None, progress=steps)
    mark("compare, no cache (models warm, all recomputed)", time.perf_counter() - start, steps=steps.durations())
    out.write_text(json.dumps({"phases": phases, "windows": _windows(encoders, example["audio"])}))


def _windows(encoders: object, audio: Sequence[str]) -> int:
    from alignment.inputs.audio import resample, window_starts
    from alignment.inputs.files import load_files

    clap = encoders.clap  # type: ignore[attr-defined]
    count = 0
    for item in load_files(audio, "audio").items:
        samples = resample(item.payload, clap.sample_rate).samples  # type: ignore[arg-type]
        count += len(window_starts(len(samples), clap.window))
    return count


def process_age() -> float:
    """Seconds since this process started (from /proc), so interpreter start-up counts too."""
    start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def run_library(warm_repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-lib-") as tmp:
        out = Path(tmp) / "phases.json"
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bench.bench_app", "--child-library", str(out), "--warm-repeats", str(warm_repeats)],
            cwd=ROOT,
            env=child_env(tmp),
            check=True,
        )
        result = json.loads(out.read_text())
        result["process_seconds"] = round(time.perf_counter() - start, 3)
    return result


# ---------------------------------------------------------------------------- the app (spawned server)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, *, timeout: float) -> float:
    """Seconds until GET `url` answers 200 (raises if the process dies or `timeout` passes)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"app exited with code {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s")


def new_uploads() -> dict:
    """Files the app has never seen: real photos and Clotho recordings from ../shared/data, with made-up captions."""
    photos = sorted((SHARED / "photos").iterdir())[:3]
    clips = sorted((SHARED / "clotho_subset" / "audio").glob("*.wav"))[:2]
    if not photos or not clips:
        raise SystemExit(f"new uploads need the real files in {SHARED}")
    texts = ["a bird on a branch", "a cat on a sofa", "a hot dog with mustard", "rain on a roof", "birds singing"]
    return {"texts": texts, "images": [str(p) for p in photos], "audio": [str(c) for c in clips]}


def timed_compare(client: Client, example: dict) -> dict:
    """One /compare: client seconds to the first and the last yield, and the server's own seconds."""
    from gradio_client import handle_file

    start = time.perf_counter()
    job = client.submit(  # by name, so new optional inputs of the endpoint do not shift the arguments
        text="\n".join(example["texts"]),
        text_file=None,
        images=[handle_file(p) for p in example["images"]],
        audio=[handle_file(p) for p in example["audio"]],
        kind="cosine",
        api_name="/compare",
    )
    first = None
    for _ in job:
        first = first or time.perf_counter() - start
    outputs = job.outputs()
    job.result()  # raises if the event failed
    total = time.perf_counter() - start
    if not outputs:
        raise RuntimeError("/compare returned no output")
    numbers = outputs[-1][-1]
    return {
        "client_first_s": round(first or total, 3),
        "client_s": round(total, 3),
        "server_s": numbers.get("timing", {}).get("server_s"),
        "yields": len(outputs),
        "projection": sorted({p["method"] for p in numbers["projection"].values()}),
        "load": load_average(),
    }


def one_start(argv: list[str], cache: str, *, label: str, warm_repeats: int, timeout: float) -> dict:
    """Spawn the app on `cache`, time page-ready and the three kinds of /compare, read its memory, stop it."""
    from gradio_client import Client

    port = free_port()
    env = {**child_env(cache), "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    log = Path(cache) / f"app-{port}.log"
    with log.open("w") as log_file:
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "app.py", *argv], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            ready = wait_ready(url, process, timeout=timeout)
            ready_load = load_average()
            print(f"  {label}: page ready after {ready:.2f} s (load {ready_load})", flush=True)
            client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
            bundled = timed_compare(client, first_example())
            print(f"  {label}: bundled example {bundled}", flush=True)
            fresh = timed_compare(client, new_uploads())
            print(f"  {label}: new uploads {fresh}", flush=True)
            warm = [timed_compare(client, new_uploads()) for _ in range(warm_repeats)]
            rss = rss_mb(process.pid)
            return {
                "label": label,
                "page_ready_s": round(ready, 3),
                "page_ready_load": ready_load,
                "bundled": bundled,
                "new_uploads": fresh,
                "warm_server_s": statistics.median(w["server_s"] for w in warm),
                "warm_client_s": statistics.median(w["client_s"] for w in warm),
                "warm_runs": warm,
                "rss_end_mb": round(rss[0]),
                "peak_rss_mb": round(rss[1]),
                "total_s": round(time.perf_counter() - start, 1),
            }
        except Exception:
            print(log.read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            process.terminate()  # only the process this benchmark started
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_app(argv: list[str], *, label: str, warm_repeats: int, timeout: float) -> dict:
    """Two starts on one fresh cache: the first prepares the bundled example, the second shows it from disk."""
    with tempfile.TemporaryDirectory(prefix="bench-app-") as cache:
        first = one_start(argv, cache, label=f"{label}, first start", warm_repeats=warm_repeats, timeout=timeout)
        second = one_start(argv, cache, label=f"{label}, second start", warm_repeats=warm_repeats, timeout=timeout)
    return {"label": label, "argv": argv, "starts": [first, second]}


def import_gradio_seconds(repeats: int = 3) -> float:
    """Median wall time of `python -c "import gradio"` in a fresh process."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import gradio"], cwd=ROOT, env=child_env(tempfile.gettempdir()), check=True
        )
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


# ---------------------------------------------------------------------------- main

PARTS = ("library", "app", "tiny")


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--warm-repeats", type=int, default=3, help="cache-hit compare calls (median reported)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the page")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--child-library", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_library:
        library_child(args.child_library, args.warm_repeats)
        return {}
    wanted = [p.strip() for p in args.only.split(",") if p.strip()]
    if set(wanted) - set(PARTS):
        parser.error(f"unknown part(s) {sorted(set(wanted) - set(PARTS))} (choose from {', '.join(PARTS)})")

    from . import models

    print(machine_line(), flush=True)
    load_before = load_average()
    clip_dir, clap_dir = str(models.ensure("clip")), str(models.ensure("clap"))
    results: dict = {"machine": machine_line(), "load_before": load_before}

    if "library" in wanted:
        print("library (fresh process, real-size random CLIP + CLAP):", flush=True)
        results["library"] = run_library(args.warm_repeats)
    apps = []
    if {"app", "tiny"} & set(wanted):
        results["import_gradio_s"] = import_gradio_seconds()
        print(f"import gradio: {results['import_gradio_s']:.2f} s (median of 3, load {load_average()})", flush=True)
    if "app" in wanted:
        apps.append(
            run_app(
                ["--clip", clip_dir, "--clap", clap_dir],
                label="real size",
                warm_repeats=args.warm_repeats,
                timeout=args.timeout,
            )
        )
    if "tiny" in wanted:
        apps.append(run_app(["--preset", "tiny"], label="tiny", warm_repeats=args.warm_repeats, timeout=args.timeout))
    results["apps"] = apps
    results["load_after"] = load_average()

    if "library" in results:
        lib = results["library"]
        print(f"\nLibrary, first bundled example (14 texts, 6 images, 6 clips = {lib['windows']} audio windows):")
        print(
            table(
                ["phase", "seconds", "RSS MiB after", "peak RSS MiB so far"],
                [[p["phase"], p["seconds"], p["rss_mb"], p["peak_rss_mb"]] for p in lib["phases"]],
            )
        )
    if apps:
        floor = results["import_gradio_s"]
        print(f"\nApp (spawned process, through gradio_client); `import gradio` alone: {floor:.2f} s")
        rows = []
        for app in apps:
            for n, start in enumerate(app["starts"], start=1):
                b, u = start["bundled"], start["new_uploads"]
                rows.append(
                    [
                        f"{app['label']}, start {n}",
                        f"{start['page_ready_s']:.2f} (x{start['page_ready_s'] / floor:.2f})",
                        f"{b['client_s']:.2f} / {b['server_s']:.3f}",
                        f"{u['client_s']:.2f} / {u['server_s']:.3f}",
                        f"{start['warm_client_s']:.3f} / {start['warm_server_s']:.3f}",
                        start["peak_rss_mb"],
                        start["page_ready_load"],
                    ]
                )
        print(
            table(
                [
                    "app",
                    "page ready s (x import gradio)",
                    "bundled example client / server s",
                    "new uploads client / server s",
                    "warm compare client / server s",
                    "peak RSS MiB",
                    "load at page ready",
                ],
                rows,
            )
        )
    print(f"\nload average before {load_before}, after {results['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
