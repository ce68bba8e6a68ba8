"""App cold start, compare latency (library and through gradio_client) and peak memory, real-size and tiny.

    .venv/bin/python -m bench.bench_app [--only library,app,tiny] [--warm-repeats 3] [--json out.json]

- library: a fresh `python` child times and measures each phase: imports, `load_encoder('clip', dir)`,
  `load_encoder('clap', dir)` (the real-size random checkpoints of bench.models), then
  `alignment.analysis.compare.compare` on the first bundled example set (14 texts, 6 images, 6 clips) with an
  empty embedding cache, again with the cache filled (median of `--warm-repeats`), and once more
  with no cache (all embeddings recomputed, models warm). RSS and its high-water mark
  (`ru_maxrss`) are read after each phase.
- app: `python app.py --clip DIR --clap DIR` with GRADIO_SERVER_PORT set and ALIGN_CACHE a fresh temp dir:
  seconds from spawn until GET / answers 200, then a gradio_client `Client` and the `/compare` endpoint
  on the same example set, first call (cache empty) and warm calls (cache hit); the endpoint yields
  twice (PCA projection first, UMAP second) and both are timed. The app's VmHWM is read at the end.
- tiny: the same for `python app.py --preset tiny` (the tiny checkpoints are built at start-up because
  ALIGN_CACHE is empty, as on a fresh machine).

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

from .machine import ROOT, load_average, machine_line, rss_mb, table

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
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio"], cwd=ROOT, env=child_env(tmp), check=True)
    result["import_gradio_seconds"] = round(time.perf_counter() - start, 3)
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


def timed_compare(client: Client, example: dict) -> tuple[float, float]:
    """(seconds to the first yield = PCA, seconds to the last = UMAP) of one /compare call."""
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
    outputs = 0
    for _ in job:
        outputs += 1
        first = first or time.perf_counter() - start
    job.result()  # raises if the event failed
    total = time.perf_counter() - start
    if outputs == 0:
        raise RuntimeError("/compare returned no output")
    return first or total, total


def run_app(argv: list[str], *, label: str, warm_repeats: int, timeout: float) -> dict:
    """Spawn the app, time page-ready and /compare, read its peak memory, stop it."""
    from gradio_client import Client

    example = first_example()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-app-") as cache:
        env = {**child_env(cache), "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
        log = Path(cache) / "app.log"
        with log.open("w") as log_file:
            start = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "app.py", *argv], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
            try:
                url = f"http://127.0.0.1:{port}/"
                ready = wait_ready(url, process, timeout=timeout)
                print(f"  {label}: page ready after {ready:.1f} s", flush=True)
                rss_ready = rss_mb(process.pid)
                client_start = time.perf_counter()
                client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
                client_s = time.perf_counter() - client_start
                first_pca, first_total = timed_compare(client, example)
                print(
                    f"  {label}: /compare #1 (cache empty) PCA {first_pca:.1f} s, UMAP {first_total:.1f} s", flush=True
                )
                warm = [timed_compare(client, example) for _ in range(warm_repeats)]
                warm_pca = statistics.median(w[0] for w in warm)
                warm_total = statistics.median(w[1] for w in warm)
                print(f"  {label}: /compare warm (cache hit) PCA {warm_pca:.2f} s, UMAP {warm_total:.2f} s", flush=True)
                rss_end = rss_mb(process.pid)
                return {
                    "label": label,
                    "argv": argv,
                    "page_ready_s": round(ready, 3),
                    "client_s": round(client_s, 3),
                    "first_compare_result_s": round(ready + client_s + first_pca, 3),
                    "compare1_pca_s": round(first_pca, 3),
                    "compare1_umap_s": round(first_total, 3),
                    "warm_pca_s": round(warm_pca, 3),
                    "warm_umap_s": round(warm_total, 3),
                    "warm_runs": [[round(a, 3), round(b, 3)] for a, b in warm],
                    "rss_ready_mb": round(rss_ready[0]),
                    "rss_end_mb": round(rss_end[0]),
                    "peak_rss_mb": round(rss_end[1]),
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
    if "app" in wanted:
        apps.append(
            run_app(
                ["--clip", clip_dir, "--clap", clap_dir],
                label="app.py --clip DIR --clap DIR (real size)",
                warm_repeats=args.warm_repeats,
                timeout=args.timeout,
            )
        )
    if "tiny" in wanted:
        apps.append(
            run_app(
                ["--preset", "tiny"], label="app.py --preset tiny", warm_repeats=args.warm_repeats, timeout=args.timeout
            )
        )
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
        for phase in lib["phases"]:
            if "steps" in phase:
                print(f"{phase['phase']}: " + ", ".join(f"{k} {v:.2f} s" for k, v in phase["steps"].items()))
        print(
            f"child process wall time {lib['process_seconds']:.1f} s; `import gradio` alone "
            f"{lib['import_gradio_seconds']:.1f} s (a separate process)"
        )
    if apps:
        print("\nApp (spawned process, first bundled example through gradio_client /compare):")
        print(
            table(
                [
                    "command",
                    "page ready s",
                    "first result s",
                    "compare #1 PCA / UMAP s",
                    "warm PCA / UMAP s",
                    "RSS ready MiB",
                    "peak RSS MiB",
                ],
                [
                    [
                        a["label"],
                        a["page_ready_s"],
                        a["first_compare_result_s"],
                        f"{a['compare1_pca_s']:.1f} / {a['compare1_umap_s']:.1f}",
                        f"{a['warm_pca_s']:.2f} / {a['warm_umap_s']:.2f}",
                        a["rss_ready_mb"],
                        a["peak_rss_mb"],
                    ]
                    for a in apps
                ],
            )
        )
        print("first result = page ready + Client() + first /compare yield (PCA), all from process spawn")
    print(f"\nload average before {load_before}, after {results['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
