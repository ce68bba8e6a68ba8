"""Encoder throughput (items/s): the project's batched encoders against a naive per-item baseline, same run.

    .venv/bin/python -m bench.bench_encoders [--repeats 3] [--threads N] [--batch-size 32] [--only clip-text,...]
    .venv/bin/python -m bench.bench_encoders --precisions fp32,bf16,int8 [--only clip-image,...]

With `--precisions`, each case instead runs the project path once per precision (`load_encoder(...,
precision=)`, alignment.models.precision), interleaved round by round, and reports items/s, the speed ratio
to fp32 and the smallest cosine of an item's vector to its fp32 vector.

Project path: `alignment.models.factory.load_encoder(role, <real-size random checkpoint dir>)`, then the
`prepare_*` + `forward_*` pair that `alignment.models.embed.embed_items` calls (batched, fp32,
`torch.inference_mode`, whatever attention transformers picks: SDPA for CLIP, eager for CLAP, which
declares no SDPA support). Naive baseline: `*Processor.from_pretrained` + `*Model.from_pretrained` of
the same directory, one item per call, no `inference_mode`/`no_grad`, as a notebook does it.

Each case: one untimed warm-up call of each path on one item, then `repeats` rounds that time the
project and the baseline back to back (interleaved, so load from other processes hits both);
medians are reported. `agree` is the largest 1 - cosine between the two paths' embeddings of the same
item (batching and padding must not change an embedding).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers import AutoModel, AutoProcessor

from alignment.inputs.audio import Waveform, resample
from alignment.inputs.files import load_files
from alignment.models.encoders import ClapEncoder, ClipEncoder
from alignment.models.factory import load_encoder

from . import models
from .machine import ROOT, SHARED, load_average, machine_line, table

CLOTHO = SHARED / "clotho_subset"
SECONDS_LONG = 24.0  # "~25 s" clips: the Clotho recordings at least this long (24.1-29.5 s)


# ---------------------------------------------------------------------------- inputs


def bench_texts() -> list[str]:
    """The 14 bundled captions + the first caption of each of the 7 Clotho clips (21 texts)."""
    texts = [t.strip() for t in (ROOT / "assets" / "captions.txt").read_text().splitlines() if t.strip()]
    with (CLOTHO / "captions.csv").open(newline="", encoding="utf-8") as f:
        texts += [row["caption_1"].strip() for row in csv.DictReader(f)]
    return texts


def bench_images() -> list:
    """The 6 bundled photos + the 10 shared photos, decoded as the app decodes them (RGB PIL)."""
    paths = sorted((ROOT / "assets" / "images").iterdir()) + sorted((SHARED / "photos").iterdir())
    return [item.payload for item in load_files(paths, "image").items]


def bench_clips() -> tuple[list[Waveform], list[Waveform]]:
    """(10 s crops, full clips) of the Clotho recordings >= 24 s, at their native 44.1 kHz."""
    waves = [item.payload for item in load_files(sorted((CLOTHO / "audio").glob("*.wav")), "audio").items]
    long = [w for w in waves if isinstance(w, Waveform) and w.seconds >= SECONDS_LONG]
    crops = [Waveform(w.samples[: 10 * w.sample_rate].copy(), w.sample_rate) for w in long]
    return crops, long


# ---------------------------------------------------------------------------- the two paths


def project_runner(
    encoder: ClipEncoder | ClapEncoder, modality: str
) -> Callable[[Sequence], tuple[float, float, torch.Tensor]]:
    """prepare_* then forward_* (what embed_items does), timed separately."""
    prepare = getattr(encoder, f"prepare_{modality}")
    forward = getattr(encoder, f"forward_{modality}")

    def run(inputs: Sequence) -> tuple[float, float, torch.Tensor]:
        start = time.perf_counter()
        prepared = prepare(list(inputs))
        middle = time.perf_counter()
        vectors = forward(prepared)
        return middle - start, time.perf_counter() - middle, vectors

    return run


def naive_runner(model: torch.nn.Module, processor: object, modality: str) -> Callable[[Sequence], torch.Tensor]:
    """One item per processor + get_*_features call, autograd on, normalized at the end."""

    def features(output: object) -> torch.Tensor:
        return output if isinstance(output, torch.Tensor) else output.pooler_output  # type: ignore[attr-defined]

    def one(item: object) -> torch.Tensor:
        if modality == "text":
            inputs = processor(text=[item], return_tensors="pt", padding=True)  # type: ignore[operator]
            return features(model.get_text_features(**inputs))  # type: ignore[operator]
        if modality == "image":
            inputs = processor(images=item, return_tensors="pt")  # type: ignore[operator]
            return features(model.get_image_features(**inputs))  # type: ignore[operator]
        rate = processor.feature_extractor.sampling_rate  # type: ignore[attr-defined]
        wave = resample(item, rate).samples  # type: ignore[arg-type]
        inputs = processor(audio=wave, sampling_rate=rate, return_tensors="pt")  # type: ignore[operator]
        return features(model.get_audio_features(**inputs))  # type: ignore[operator]

    def run(inputs: Sequence) -> torch.Tensor:
        out = [one(item) for item in inputs]
        return F.normalize(torch.cat(out).detach(), dim=-1)

    return run


# ---------------------------------------------------------------------------- one case


@dataclass
class Result:
    case: str
    items: int
    work: str  # what one pass covers: tokens or 10 s windows
    project_items_s: float
    naive_items_s: float
    speedup: float
    project_prepare_s: float  # median, whole set
    project_forward_s: float
    naive_s: float
    agree: str  # max 1 - cos(project, naive) over items, or why it is not comparable
    project_runs_s: list[float]
    naive_runs_s: list[float]


def run_case(
    name: str, inputs: Sequence, project: Callable, naive: Callable, *, repeats: int, work: str, comparable: bool = True
) -> Result:
    project(inputs[:1])  # warm-up: first-call allocations, lazy inits, kernel selection
    naive(inputs[:1])
    prepare_s, forward_s, totals, naive_s = [], [], [], []
    for _ in range(repeats):
        p, f, vectors = project(inputs)
        prepare_s.append(p)
        forward_s.append(f)
        totals.append(p + f)
        start = time.perf_counter()
        reference = naive(inputs)
        naive_s.append(time.perf_counter() - start)
    if comparable:
        gaps = 1 - (vectors * reference).sum(-1)  # (N,)
        gap = float(gaps.max())
        agree = f"{gap:.1e}"
        if gap > 1e-4:  # more than float noise: name the items so it can be reproduced
            worst = [int(i) for i in torch.nonzero(gaps > 1e-4).flatten()]
            agree += f" (items {worst})"
    else:
        agree = "n/a (baseline sees one random 10 s crop)"
    n = len(inputs)
    project_total, naive_total = statistics.median(totals), statistics.median(naive_s)
    result = Result(
        name,
        n,
        work,
        n / project_total,
        n / naive_total,
        naive_total / project_total,
        statistics.median(prepare_s),
        statistics.median(forward_s),
        naive_total,
        agree,
        [round(t, 3) for t in totals],
        [round(t, 3) for t in naive_s],
    )
    print(
        f"  {name}: project {result.project_items_s:.3g} items/s, naive {result.naive_items_s:.3g} items/s "
        f"(x{result.speedup:.2f}); runs project {result.project_runs_s} naive {result.naive_runs_s}",
        flush=True,
    )
    return result


def windows_of(clips: Sequence[Waveform], encoder: ClapEncoder) -> int:
    from alignment.inputs.audio import window_starts

    return sum(len(window_starts(len(resample(c, encoder.sample_rate).samples), encoder.window)) for c in clips)


def token_lengths(tokenizer: object, texts: Sequence[str]) -> list[int]:
    return [len(ids) for ids in tokenizer(list(texts), truncation=True)["input_ids"]]  # type: ignore[operator]


# ---------------------------------------------------------------------------- precision variants


def precision_rows(args: argparse.Namespace, wanted: list[str], texts: list[str]) -> list[list[object]]:
    """Per case and precision: median items/s over `repeats` interleaved rounds, ratio to fp32, min cosine."""
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if precisions[0] != "fp32":
        precisions = ["fp32", *[p for p in precisions if p != "fp32"]]
    cases: list[tuple[str, str, str, Sequence]] = []  # (case, role, modality, inputs)
    if "clip-text" in wanted:
        cases.append(("CLIP ViT-B/32 text", "clip", "text", texts))
    if "clip-image" in wanted:
        cases.append(("CLIP ViT-B/32 image", "clip", "image", bench_images()))
    if "clap-text-reallen" in wanted:
        from alignment.models.tiny import clip_tokenizer_from_bpe

        bpe = clip_tokenizer_from_bpe(models.CLIP_BPE)
        proxies = [t[: n - 2] for t, n in zip(texts, token_lengths(bpe, texts), strict=True)]
        cases.append(("CLAP RoBERTa text (real-length proxy)", "clap", "text", proxies))
    if "clap-audio-10s" in wanted:
        cases.append(("CLAP HTSAT audio, 10 s clips", "clap", "audio", bench_clips()[0]))
    rows: list[list[object]] = []
    for case, role, modality, inputs in cases:
        directory = str(models.ensure(role))
        encoders = {p: load_encoder(role, directory, batch_size=args.batch_size, precision=p) for p in precisions}  # type: ignore[arg-type]
        runners = {p: project_runner(e, modality) for p, e in encoders.items()}
        for run in runners.values():
            run(inputs[:1])  # warm-up
        times: dict[str, list[float]] = {p: [] for p in precisions}
        vectors: dict[str, torch.Tensor] = {}
        for _ in range(args.repeats):
            for p, run in runners.items():
                prepare_s, forward_s, vectors[p] = run(inputs)
                times[p].append(prepare_s + forward_s)
        base = statistics.median(times["fp32"])
        for p in precisions:
            median = statistics.median(times[p])
            cosine = float((vectors[p] * vectors["fp32"]).sum(-1).min())
            rows.append([case, p, len(inputs), len(inputs) / median, f"x{base / median:.2f}", f"{cosine:.6f}"])
            print(f"  {case} {p}: {len(inputs) / median:.3g} items/s, x{base / median:.2f}, min cos {cosine:.6f}")
        del encoders, runners
    return rows


# ---------------------------------------------------------------------------- main

CASES = ("clip-text", "clip-image", "clap-text", "clap-text-reallen", "clap-audio-10s", "clap-audio-long")
# clap-text runs the byte-level stand-in tokenizer's ~4x longer sequences: opt-in, the proxy is the realistic one
DEFAULT_CASES = tuple(c for c in CASES if c != "clap-text")


def main(argv: Sequence[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per case (median reported)")
    parser.add_argument("--only", default=",".join(DEFAULT_CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice, one per core)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=32, help="the project encoders' batch size (Settings.batch_size, default 32)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--precisions", default=None, help="e.g. fp32,bf16,int8: compare precisions instead of project vs naive"
    )
    args = parser.parse_args(argv)
    wanted = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(wanted) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s) {sorted(unknown)} (choose from {', '.join(CASES)})")

    transformers.utils.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line(), flush=True)
    load_before = load_average()
    started = time.perf_counter()
    texts = bench_texts()
    results: list[Result] = []
    if args.precisions:
        rows = precision_rows(args, wanted, texts)
        print()
        print(table(["case", "precision", "items", "items/s", "vs fp32", "min cosine to fp32"], rows))
        print(
            f"\nbatch size {args.batch_size}, torch threads {torch.get_num_threads()}, repeats {args.repeats} "
            f"(median), total {time.perf_counter() - started:.0f} s; "
            f"load average before {load_before}, after {load_average()}"
        )
        return results

    if any(c.startswith("clip") for c in wanted):
        directory = str(models.ensure("clip"))
        encoder = load_encoder("clip", directory, batch_size=args.batch_size)
        model, processor = AutoModel.from_pretrained(directory), AutoProcessor.from_pretrained(directory)
        print(
            f"CLIP: {directory} (attention: project {encoder.model.config._attn_implementation}, "
            f"baseline {model.config._attn_implementation})",
            flush=True,
        )
        if "clip-text" in wanted:
            lengths = token_lengths(encoder.tokenizer, texts)
            results.append(
                run_case(
                    "CLIP ViT-B/32 text",
                    texts,
                    project_runner(encoder, "text"),
                    naive_runner(model, processor, "text"),
                    repeats=args.repeats,
                    work=f"{np.mean(lengths):.0f} tokens avg",
                )
            )
        if "clip-image" in wanted:
            images = bench_images()
            results.append(
                run_case(
                    "CLIP ViT-B/32 image",
                    images,
                    project_runner(encoder, "image"),
                    naive_runner(model, processor, "image"),
                    repeats=args.repeats,
                    work="224x224, 50 patches",
                )
            )
        del encoder, model, processor

    if any(c.startswith("clap") for c in wanted):
        directory = str(models.ensure("clap"))
        encoder = load_encoder("clap", directory, batch_size=args.batch_size)
        assert isinstance(encoder, ClapEncoder)
        model, processor = AutoModel.from_pretrained(directory), AutoProcessor.from_pretrained(directory)
        print(
            f"CLAP: {directory} (attention: project {encoder.model.config._attn_implementation}, "
            f"baseline {model.config._attn_implementation})",
            flush=True,
        )
        if "clap-text" in wanted:
            lengths = token_lengths(encoder.tokenizer, texts)
            results.append(
                run_case(
                    "CLAP RoBERTa text (byte tokens)",
                    texts,
                    project_runner(encoder, "text"),
                    naive_runner(model, processor, "text"),
                    repeats=args.repeats,
                    work=f"{np.mean(lengths):.0f} tokens avg",
                )
            )
        if "clap-text-reallen" in wanted:
            # Proxy for real RoBERTa BPE lengths: cut each text to as many characters (= byte tokens)
            # as the real CLIP BPE gives it words-pieces, so the sequence lengths match real use.
            from alignment.models.tiny import clip_tokenizer_from_bpe

            bpe = clip_tokenizer_from_bpe(models.CLIP_BPE)
            proxies = [t[: n - 2] for t, n in zip(texts, token_lengths(bpe, texts), strict=True)]
            lengths = token_lengths(encoder.tokenizer, proxies)
            results.append(
                run_case(
                    "CLAP RoBERTa text (real-length proxy)",
                    proxies,
                    project_runner(encoder, "text"),
                    naive_runner(model, processor, "text"),
                    repeats=args.repeats,
                    work=f"{np.mean(lengths):.0f} tokens avg",
                )
            )
        crops, long = bench_clips() if any(c.startswith("clap-audio") for c in wanted) else ([], [])
        if "clap-audio-10s" in wanted:
            results.append(
                run_case(
                    "CLAP HTSAT audio, 10 s clips",
                    crops,
                    project_runner(encoder, "audio"),
                    naive_runner(model, processor, "audio"),
                    repeats=args.repeats,
                    work=f"{windows_of(crops, encoder) / len(crops):.0f} window/clip",
                )
            )
        if "clap-audio-long" in wanted:
            seconds = np.mean([c.seconds for c in long])
            results.append(
                run_case(
                    f"CLAP HTSAT audio, {seconds:.0f} s clips",
                    long,
                    project_runner(encoder, "audio"),
                    naive_runner(model, processor, "audio"),
                    repeats=args.repeats,
                    work=f"{windows_of(long, encoder) / len(long):.0f} windows/clip (baseline 1)",
                    comparable=False,
                )
            )
        del encoder, model, processor

    print()
    print(
        table(
            [
                "case",
                "items",
                "work per item",
                "project items/s",
                "naive items/s",
                "speedup",
                "project prepare s",
                "project forward s",
                "naive s",
                "agree (1-cos)",
            ],
            [
                [
                    r.case,
                    r.items,
                    r.work,
                    r.project_items_s,
                    r.naive_items_s,
                    f"x{r.speedup:.2f}",
                    r.project_prepare_s,
                    r.project_forward_s,
                    r.naive_s,
                    r.agree,
                ]
                for r in results
            ],
        )
    )
    print(
        f"\nproject batch size {args.batch_size}, torch threads {torch.get_num_threads()}, repeats {args.repeats} "
        f"(median), total {time.perf_counter() - started:.0f} s; "
        f"load average before {load_before}, after {load_average()}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine_line(),
                    "load_before": load_before,
                    "batch_size": args.batch_size,
                    "threads": torch.get_num_threads(),
                    "load_after": load_average(),
                    "repeats": args.repeats,
                    "results": [asdict(r) for r in results],
                },
                indent=1,
            )
        )
    return results


if __name__ == "__main__":
    main()
