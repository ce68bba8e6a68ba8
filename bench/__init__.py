"""Benchmarks (not tests): encoder throughput, app cold start, compare latency and peak memory.

Run from the repository root with the project's venv; each prints a table and one machine line:

    .venv/bin/python -m bench.models          # build + cache the real-size random checkpoints (once)
    .venv/bin/python -m bench.bench_encoders  # items/s, project encoders vs a naive per-item baseline
    .venv/bin/python -m bench.bench_app       # cold start (real-size and tiny), compare latency, peak RSS

Results and the machine they came from are recorded in docs/BENCHMARKS.md.
"""
