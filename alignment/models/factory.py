"""The one place that calls `from_pretrained`: a Hugging Face id, a local directory or 'tiny' -> an encoder.

Loading tries the local cache before the network and fails in seconds, with one message naming the model and
the three ways to provide it, when neither has the checkpoint.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
from transformers import AutoModel, AutoProcessor, ClapModel, PreTrainedModel

from ..core.errors import ModelUnavailableError
from .checkpoints import local_revision
from .encoders import ClapEncoder, ClipEncoder, Encoders, Role
from .precision import resolve_precision, weight_dtype
from .runtime import pick_device
from .settings import TINY, PrecisionChoice, Settings, default_cache_dir
from .tiny import ensure_tiny_checkpoint

_ROLE_FLAGS = {"clip": ("--clip", "ALIGN_CLIP"), "clap": ("--clap", "ALIGN_CLAP")}


def _revision(model: PreTrainedModel, source: str) -> str:
    """The Hub commit when known; for a local directory a fingerprint of its config and weight files."""
    commit = getattr(model.config, "_commit_hash", None)
    return str(commit) if commit else local_revision(source)


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hugging Face endpoint cannot be reached (DNS or TCP), or None when it answers."""
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    url = urlsplit(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{host}:{port} is unreachable: {exc}"
    return None


def _from_pretrained(role: Role, model_id: str, source: str, attn: str | None) -> tuple[PreTrainedModel, object]:
    """Load model + processor, trying the local cache before the network; a clear error when neither has it."""
    extra = {"attn_implementation": attn} if attn else {}  # None: transformers' choice, SDPA where supported
    if Path(source).is_dir():  # a local checkpoint: never the network, and say plainly when it is not one
        try:
            return (
                AutoModel.from_pretrained(source, local_files_only=True, **extra),
                AutoProcessor.from_pretrained(source, local_files_only=True),
            )
        except (OSError, ValueError) as exc:
            flag = _ROLE_FLAGS[role][0]
            raise ValueError(
                f"{flag} {model_id}: the directory does not hold a loadable model and processor "
                f"(save both with save_pretrained): {str(exc).splitlines()[0]}"
            ) from None
    last: Exception | str | None = None
    for local_only in (True, False):
        if not local_only and os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"):
            break
        if not local_only and (last := _hub_unreachable()):
            break  # fail in a second instead of after huggingface_hub's retries (about 40 s of backoff)
        try:
            model = AutoModel.from_pretrained(source, local_files_only=local_only, **extra)
            processor = AutoProcessor.from_pretrained(source, local_files_only=local_only)
            return model, processor
        except OSError as exc:
            last = exc
    flag, env = _ROLE_FLAGS[role]
    cause = str(last).splitlines()[0] if last else "offline mode"
    raise ModelUnavailableError(
        "CLIP (image-text)" if role == "clip" else "CLAP (audio-text)", model_id, flag, env, cause
    )


def load_encoder(
    role: Role,
    model_id: str,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    tiny_root: str | os.PathLike[str] | None = None,
    attn: str | None = None,
    precision: PrecisionChoice = "auto",
) -> ClipEncoder | ClapEncoder:
    """Build one backbone from a Hugging Face id, a local directory, or 'tiny' (random, built then loaded).

    `precision` (alignment.models.precision): auto = bf16 on a CUDA GPU with bf16, fp32 elsewhere.
    """
    device = torch.device(device)
    chosen = resolve_precision(precision, device)  # before the slow load: a bad choice fails at once
    source = model_id
    if model_id == TINY:
        source = str(ensure_tiny_checkpoint(role, tiny_root or default_cache_dir() / "models"))
    model, processor = _from_pretrained(role, model_id, source, attn)
    if role == "clap" and not isinstance(model, ClapModel):
        raise ValueError(f"--clap needs a ClapModel checkpoint, but {model_id!r} is a {type(model).__name__}")
    if role == "clip" and not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
        raise ValueError(
            f"--clip needs an image-text model (CLIPModel, SiglipModel), but {model_id!r} is a {type(model).__name__}"
        )
    cls = ClipEncoder if role == "clip" else ClapEncoder
    return cls(
        model,
        processor,
        model_id=model_id,
        revision=_revision(model, source),
        device=device,
        dtype=weight_dtype(chosen, device),
        batch_size=batch_size,
        precision=chosen,
    )


def load_encoders(settings: Settings) -> Encoders:
    """Both backbones for `settings`, on the device it asks for."""
    device = pick_device(settings.device)
    root = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    kwargs = dict(
        device=device, batch_size=settings.batch_size, tiny_root=root / "models", precision=settings.precision
    )
    clip = load_encoder("clip", settings.clip, **kwargs)  # type: ignore[arg-type]
    clap = load_encoder("clap", settings.clap, **kwargs)  # type: ignore[arg-type]
    return Encoders(clip, clap)  # type: ignore[arg-type]
