"""Training fusion heads: symmetric InfoNCE against a target embedding, one method or every method side by side.

See `alignment.space.fusion` for the methods. The split is seeded three ways (fit / early-stopping rows /
held-out rows); held-out metrics are fused -> target retrieval (R@1, MRR, ...; pair key = row index), and
`compare_fusion_methods` scores each single modality on the same held-out rows.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..models.runtime import pick_device
from .contrastive import (
    History,
    Progress,
    Split,
    TrainConfig,
    check_matrix,
    fit_contrastive,
    info_nce,
    pair_metrics,
    seeded_init,
    split_rows,
    unit,
)
from .fusion import (
    DEFAULT_TRAIN,
    METHODS,
    FusionModel,
    FusionNet,
    Method,
    Prepared,
    Views,
    default_heads,
    prepare_views,
    prepared_tensors,
    readonly_weights,
)

__all__ = ["FusionComparison", "compare_fusion_methods", "train_fusion"]


def train_fusion(
    views: Views,
    target: np.ndarray,
    *,
    method: Method = "attention",
    mask: np.ndarray | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    config: TrainConfig = DEFAULT_TRAIN,
    heads: int | None = None,
    modality_dropout: float = 0.0,
    names: Sequence[str] = (),
    progress: Progress | None = None,
) -> FusionModel:
    """Train one fusion head so fused items retrieve their target (N, D) rows; report held-out R@1 / MRR.

    `modality_dropout`: chance of hiding each present modality of a training item (at least one is kept),
    so the head also works when modalities are missing. `mean` has nothing to train and is only scored.
    """
    if method not in METHODS:
        raise ValueError(f"unknown fusion method {method!r} (expected one of {', '.join(METHODS)})")
    if not 0.0 <= modality_dropout < 1.0:
        raise ValueError(f"modality_dropout must be in [0, 1), got {modality_dropout}")
    report = progress or (lambda fraction, message: None)
    prepared = prepare_views(views, mask)
    n, m_count, d = prepared.pooled.shape
    tgt = unit(check_matrix(target, "target", rows=n, dim=d), "target")
    if names and len(names) != m_count:
        raise ValueError(f"need one name per modality view (got {len(names)} names for {m_count} views)")
    split = split_rows(n, val_fraction=val_fraction, seed=seed)
    return _train(
        prepared,
        tgt,
        split,
        method=method,
        seed=seed,
        config=config,
        heads=heads or default_heads(d),
        dropout=modality_dropout,
        names=tuple(names),
        report=report,
    )


def _train(
    prepared: Prepared,
    tgt: np.ndarray,
    split: Split,
    *,
    method: Method,
    seed: int,
    config: TrainConfig,
    heads: int,
    dropout: float,
    names: tuple[str, ...],
    report: Progress,
) -> FusionModel:
    n, m_count, d = prepared.pooled.shape
    device = pick_device(config.device) if method != "mean" else torch.device("cpu")
    heads = heads if method == "attention" else 1
    model = seeded_init(
        seed, lambda: FusionNet(method, m_count, d, heads, config.temperature, config.learn_temperature)
    ).to(device)
    history = History()
    start = time.perf_counter()
    if method != "mean":
        train = prepared_tensors(prepared, device, split.train)
        inner = prepared_tensors(prepared, device, split.inner)
        y_train = torch.from_numpy(tgt[split.train]).to(device)
        y_inner = torch.from_numpy(tgt[split.inner]).to(device)
        reference = torch.tensor(float(np.log(1.0 / config.temperature)), device=device)

        def batch_loss(idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
            pooled, tokens, token_modality, present = train[0][idx], train[1][idx], train[2], train[3][idx]
            if dropout > 0:
                hide = torch.rand(present.shape, generator=generator, device=device) < dropout
                kept = present & ~hide
                present = torch.where(kept.any(dim=1, keepdim=True), kept, present)  # never hide them all
            fused, _ = model(pooled, tokens, token_modality, present)
            return info_nce(fused, y_train[idx], model.logit_scale)

        def val_loss() -> float:  # fixed temperature: see contrastive.fit_contrastive
            return float(info_nce(model(*inner)[0], y_inner, reference))

        history = fit_contrastive(
            model,
            batch_loss,
            val_loss,
            n_train=len(split.train),
            config=config,
            seed=seed,
            device=device,
            progress=report,
            label=f"{method} fusion",
            param_groups=model.param_groups(config.lr),
        )
    weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    info = {
        "seed": seed,
        "n_rows": n,
        "n_train": len(split.train),
        "n_inner": len(split.inner),
        "n_heldout": len(split.heldout),
        "device": str(device),
        "modality_dropout": dropout,
        "temperature": float(np.exp(-model.logit_scale.item())),
        "seconds": time.perf_counter() - start,
        "train_config": {k: getattr(config, k) for k in config.__dataclass_fields__},
    }
    fusion = FusionModel(method, m_count, d, heads, readonly_weights(weights), {}, history, names, info)
    with torch.inference_mode():  # what `apply` runs, on the already prepared held-out rows
        fused, _ = fusion.net(*prepared_tensors(prepared, torch.device("cpu"), split.heldout))
    heldout = pair_metrics(fused.numpy(), tgt[split.heldout])
    report(1.0, f"{method} fusion: held-out R@1 {heldout['R@1']:.3f}, MRR {heldout['MRR']:.3f}")
    return replace(fusion, heldout=heldout)


@dataclass(frozen=True, eq=False)
class FusionComparison:
    """Every method trained on the same split, plus each single modality on its own, scored on the same rows."""

    table: tuple[dict[str, object], ...]  # one row per method and per single modality, best R@1 first
    models: Mapping[str, FusionModel]


def compare_fusion_methods(
    views: Views,
    target: np.ndarray,
    *,
    methods: Sequence[Method] = METHODS,
    mask: np.ndarray | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    config: TrainConfig = DEFAULT_TRAIN,
    heads: int | None = None,
    modality_dropout: float = 0.0,
    names: Sequence[str] = (),
    progress: Progress | None = None,
) -> FusionComparison:
    """Train each method on one seeded split; table of held-out R@1, MRR... including single-modality rows.

    A single modality is scored on the held-out items that have it (its `n_heldout` says how many).
    """
    unknown = [m for m in methods if m not in METHODS]
    if not methods or unknown:
        raise ValueError(f"methods must be some of {', '.join(METHODS)} (got {list(methods)})")
    report = progress or (lambda fraction, message: None)
    prepared = prepare_views(views, mask)
    n, m_count, d = prepared.pooled.shape
    tgt = unit(check_matrix(target, "target", rows=n, dim=d), "target")
    labels = tuple(names) or tuple(f"view {m}" for m in range(m_count))
    if len(labels) != m_count:
        raise ValueError(f"need one name per modality view (got {len(labels)} names for {m_count} views)")
    split = split_rows(n, val_fraction=val_fraction, seed=seed)
    rows: list[dict[str, object]] = []
    models: dict[str, FusionModel] = {}
    for i, method in enumerate(methods):

        def sub(fraction: float, message: str, i: int = i) -> None:
            report((i + fraction) / len(methods), message)

        model = _train(
            prepared,
            tgt,
            split,
            method=method,
            seed=seed,
            config=config,
            heads=heads or default_heads(d),
            dropout=modality_dropout,
            names=labels,
            report=sub,
        )
        models[method] = model
        rows.append(
            {
                "method": method,
                **model.heldout,
                "epochs": len(model.history.train),
                "best_epoch": model.history.best_epoch,
                "seconds": model.info["seconds"],
            }
        )
    for m, label in enumerate(labels):
        held = split.heldout[prepared.mask[split.heldout, m]]
        if len(held) < 2:
            continue
        rows.append(
            {
                "method": f"only {label}",
                **pair_metrics(prepared.pooled[held, m], tgt[held]),
                "epochs": 0,
                "best_epoch": 0,
                "seconds": 0.0,
            }
        )
    rows.sort(key=lambda r: (-float(r["R@1"]), -float(r["MRR"])))  # type: ignore[arg-type]
    report(1.0, f"best fusion: {rows[0]['method']} (held-out R@1 {float(rows[0]['R@1']):.3f})")  # type: ignore[arg-type]
    return FusionComparison(tuple(rows), models)
