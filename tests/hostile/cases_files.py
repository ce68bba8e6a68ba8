"""Hostile files of numbers: precomputed embeddings (.npz, .safetensors) and bridge / fusion checkpoints."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from alignment.inputs.limits import EmbeddingLimits, Limits

from . import files as f
from .case import (
    Case,
    file_at,
    rows,
)

# ---------------------------------------------------------------------------- embeddings and checkpoints


def _npz(upload: str, **changes: object) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        arrays = {**f.good_arrays(), **changes}
        return f.write(folder / upload, f.npz_bytes(**{k: v for k, v in arrays.items() if v is not None}))

    return build


def _nan_rows() -> np.ndarray:
    vectors = f.good_arrays()["embeddings"].copy()
    vectors[1, 3] = np.nan
    return vectors


def _object_ids() -> np.ndarray:
    return np.array(list(f.good_arrays()["ids"]), dtype=object)


def _npz_truncated(folder: Path) -> Path:
    data = f.npz_bytes(**f.good_arrays())
    return f.write(folder / "emb.npz", data[: len(data) - 200])


def _npz_claiming(folder: Path) -> Path:
    arrays = {k: v for k, v in f.good_arrays().items() if k != "embeddings"}
    data = bytearray(f.npz_bytes(**arrays))
    import io
    import zipfile

    out = io.BytesIO(bytes(data))
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("embeddings.npy", f.npy_header_claiming((1_000_000_000, 512)))
    return f.write(folder / "emb.npz", out.getvalue())


def _safetensors(upload: str, *, dtype: str = "F32", metadata: dict[str, str] | None = None) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        arrays = f.good_arrays()
        meta = {key: json.dumps(arrays[key].tolist()) for key in ("ids", "modality", "pair")}
        meta.update(metadata or {})
        vectors = arrays["embeddings"]
        if dtype == "F16":
            vectors = vectors.astype(np.float16)
        if dtype == "BF16":  # numpy has no bfloat16: torch writes it
            import tempfile

            import torch
            from safetensors.torch import save_file

            with tempfile.TemporaryDirectory() as scratch:
                save_file({"embeddings": torch.from_numpy(vectors).bfloat16()}, f"{scratch}/x", metadata=meta)
                return f.write(folder / upload, Path(f"{scratch}/x").read_bytes())
        return f.write(folder / upload, f.safetensors_bytes({"embeddings": vectors}, meta))

    return build


def _bridge(upload: str, *, meta: dict[str, object] | None = None, tensors: dict | None = None) -> Callable:
    def build(folder: Path) -> Path:
        from alignment.space.bridge import FORMAT

        ds, dt = 6, 4
        rng = np.random.default_rng(2)
        weights = {
            "mean_src": rng.normal(size=ds).astype(np.float32),
            "W": rng.normal(size=(ds, dt)).astype(np.float32),
            "mean_tgt": rng.normal(size=dt).astype(np.float32),
        }
        weights.update(tensors or {})
        weights = {k: v for k, v in weights.items() if v is not None}
        data = {"method": "ridge", "source_dim": ds, "target_dim": dt, "heldout": {"R@1": 0.5}, "key": {}}
        data.update(meta or {})
        text = {k: v if isinstance(v, str) and k.startswith("raw:") else json.dumps(v) for k, v in data.items()}
        text = {k.removeprefix("raw:"): v for k, v in text.items()}
        text["format"] = FORMAT
        return f.write(folder / upload, f.safetensors_bytes(weights, text))

    return build


def _fusion(upload: str, *, meta: dict[str, object] | None = None, tensors: dict | None = None) -> Callable:
    def build(folder: Path) -> Path:
        from alignment.space.fusion import FORMAT, FusionNet

        net = FusionNet("weighted", 2, 8)
        weights = {k: np.atleast_1d(v.detach().numpy()).astype(np.float32) for k, v in net.state_dict().items()}
        weights.update(tensors or {})
        weights = {k: v for k, v in weights.items() if v is not None}
        data = {"method": "weighted", "n_modalities": 2, "dim": 8, "heads": 1, "names": ["image", "audio"]}
        data.update(meta or {})
        text = {k: json.dumps(v) for k, v in data.items()}
        text["format"] = FORMAT
        return f.write(folder / upload, f.safetensors_bytes(weights, text))

    return build


def _deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


FILES: tuple[Case, ...] = (
    # ------------------------------------------------------------------ embeddings files
    Case(
        "npz-pickled-object-array",
        "embeddings",
        "emb.npz",
        _npz("emb.npz", ids=_object_ids()),
        "refused",
        "object array",
    ),
    Case(
        "npz-not-a-zip",
        "embeddings",
        "emb.npz",
        file_at("emb.npz", lambda: "not numpy at all"),
        "refused",
        "not an .npz file",
    ),
    Case("npz-empty", "embeddings", "emb.npz", file_at("emb.npz", lambda: b""), "refused", r"empty \(0 bytes\)"),
    Case("npz-truncated", "embeddings", "emb.npz", _npz_truncated, "refused", "cannot be read as .npz|not an .npz"),
    Case(
        "npz-header-claims-a-billion-rows",
        "embeddings",
        "emb.npz",
        _npz_claiming,
        "refused",
        r"1,000,000,000 rows, over the limit|fewer bytes",
    ),
    Case(
        "npz-rows-x-dim-over-budget",
        "embeddings",
        "emb.npz",
        _npz("emb.npz"),
        "refused",
        r"8 rows x 8 dims = 64 values, over the budget of 60 values per embeddings file \(max_values\)",
        limits=Limits(embeddings=EmbeddingLimits(max_values=60)),
        cli=False,
    ),
    Case(
        "npz-nan-row",
        "embeddings",
        "emb.npz",
        _npz("emb.npz", embeddings=_nan_rows()),
        "partial",
        r"emb.npz: embeddings row 1 \(id 't1'\) holds NaN or infinite values; skipped",
        check=rows(7),
    ),
    Case(
        "npz-surrogate-id",
        "embeddings",
        "emb.npz",
        _npz("emb.npz", ids=np.array(["t0", "t\ud800", "t2", "t3", "i0", "i1", "i2", "i3"])),
        "partial",
        r"emb.npz: row 1: id holds a lone surrogate",
        check=rows(7),
    ),
    Case(
        "npz-duplicate-ids",
        "embeddings",
        "emb.npz",
        _npz("emb.npz", ids=np.array(["t0", "t0", "t2", "t3", "i0", "i1", "i2", "i3"])),
        "partial",
        r"emb.npz: row 1: duplicate text id 't0'",
        check=rows(7),
    ),
    Case(
        "npz-all-rows-bad",
        "embeddings",
        "emb.npz",
        _npz("emb.npz", embeddings=np.zeros((8, 8), np.float32)),
        "refused",
        "no usable rows",
    ),
    Case(
        "npz-html-ids",
        "embeddings",
        "emb.npz",
        _npz(
            "emb.npz",
            ids=np.array(["<img src=x onerror=alert(1)>", "=cmd|' /C calc'!A0", "t2", "t3", "i0", "i1", "i2", "i3"]),
        ),
        "ok",
        check=rows(8),
    ),
    Case(
        "safetensors-bf16",
        "embeddings",
        "emb.safetensors",
        _safetensors("emb.safetensors", dtype="BF16"),
        "refused",
        "BF16",
    ),
    Case(
        "safetensors-deep-json-metadata",
        "embeddings",
        "emb.safetensors",
        _safetensors("emb.safetensors", metadata={"ids": _deep_json()}),
        "refused",
        "metadata 'ids' is JSON nested too deeply",
    ),
    Case(
        "safetensors-garbage",
        "embeddings",
        "emb.safetensors",
        file_at("emb.safetensors", lambda: b"\xff" * 64),
        "refused",
        "not a readable .safetensors file",
    ),
    Case(
        "safetensors-surrogate-pair-key",
        "embeddings",
        "emb.safetensors",
        _safetensors(
            "emb.safetensors", metadata={"pair": json.dumps(["p0", "p1", "p2", "p3", "p0", "p1", "p2", "\ud800"])}
        ),
        "partial",
        r"row 7: pair holds a lone surrogate",
        check=rows(7),
    ),
    # ------------------------------------------------------------------ checkpoints
    Case("bridge-ok", "bridge", "bridge.safetensors", _bridge("bridge.safetensors"), "ok"),
    Case(
        "bridge-embeddings-file",
        "bridge",
        "bridge.safetensors",
        _safetensors("bridge.safetensors"),
        "refused",
        r"not a bridge file \(format",
    ),
    Case(
        "bridge-not-safetensors",
        "bridge",
        "bridge.safetensors",
        file_at("bridge.safetensors", lambda: "hello"),
        "refused",
        "not a readable .safetensors file",
    ),
    Case(
        "bridge-empty",
        "bridge",
        "bridge.safetensors",
        file_at("bridge.safetensors", lambda: b""),
        "refused",
        "not a readable .safetensors file",
    ),
    Case(
        "bridge-dim-not-a-number",
        "bridge",
        "bridge.safetensors",
        _bridge("bridge.safetensors", meta={"source_dim": "six"}),
        "refused",
        "metadata 'source_dim' must be an integer",
    ),
    Case(
        "bridge-shape-mismatch",
        "bridge",
        "bridge.safetensors",
        _bridge("bridge.safetensors", meta={"target_dim": 5}),
        "refused",
        r"tensor '(W|mean_tgt)' has shape .*, its metadata implies",
    ),
    Case(
        "bridge-missing-tensor",
        "bridge",
        "bridge.safetensors",
        _bridge("bridge.safetensors", tensors={"W": None}),
        "refused",
        r"missing \['W'\]",
    ),
    Case(
        "bridge-nan-weights",
        "bridge",
        "bridge.safetensors",
        _bridge("bridge.safetensors", tensors={"mean_src": np.full(6, np.nan, np.float32)}),
        "refused",
        "tensor 'mean_src' holds NaN",
    ),
    Case(
        "bridge-unknown-method",
        "bridge",
        "bridge.safetensors",
        _bridge("bridge.safetensors", meta={"method": "<script>"}),
        "refused",
        "unknown bridge method",
    ),
    Case(
        "bridge-deep-json-metadata",
        "bridge",
        "bridge.safetensors",
        _bridge("bridge.safetensors", meta={"raw:heldout": _deep_json()}),
        "refused",
        "metadata 'heldout' is JSON nested too deeply",
    ),
    Case(
        "bridge-bad-heldout",
        "bridge",
        "bridge.safetensors",
        _bridge("bridge.safetensors", meta={"heldout": ["not", "a", "mapping"]}),
        "refused",
        "metadata 'heldout' must be a JSON object of numbers",
    ),
    Case("fusion-ok", "fusion", "fusion.safetensors", _fusion("fusion.safetensors"), "ok"),
    Case(
        "fusion-huge-dim",
        "fusion",
        "fusion.safetensors",
        _fusion("fusion.safetensors", meta={"dim": 1_000_000_000}),
        "refused",
        r"metadata 'dim' is 1000000000, outside 1..65536",
    ),
    Case(
        "fusion-shape-mismatch",
        "fusion",
        "fusion.safetensors",
        _fusion("fusion.safetensors", meta={"n_modalities": 3, "names": ["a", "b", "c"]}),
        "refused",
        r"tensor 'logits' has shape \(2,\), its metadata implies \(3,\)",
    ),
    Case(
        "fusion-extra-tensor",
        "fusion",
        "fusion.safetensors",
        _fusion("fusion.safetensors", tensors={"backdoor": np.ones(3, np.float32)}),
        "refused",
        r"unexpected \['backdoor'\]",
    ),
    Case(
        "fusion-heads-not-dividing",
        "fusion",
        "fusion.safetensors",
        _fusion("fusion.safetensors", meta={"method": "attention", "heads": 3}),
        "refused",
        "not divisible by 'heads' 3",
    ),
    Case(
        "fusion-names-mismatch",
        "fusion",
        "fusion.safetensors",
        _fusion("fusion.safetensors", meta={"names": ["image"]}),
        "refused",
        "metadata 'names' names 1 entries, expected 2",
    ),
    Case(
        "fusion-int-tensor",
        "fusion",
        "fusion.safetensors",
        _fusion("fusion.safetensors", tensors={"logits": np.array([1, 2], np.int64)}),
        "refused",
        "tensor 'logits' is int64, not floating point",
    ),
)
