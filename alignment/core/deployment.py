"""Where a deployment keeps its data and whether it is public: ALIGN_DATA, ALIGN_PUBLIC (on by default on a Space)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
PUBLIC_CACHE_MB = 2_000.0  # the embedding cache's size bound on a public deployment unless ALIGN_CACHE_MAX_MB says


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def public_deployment(env: Mapping[str, str] | None = None) -> bool:
    """ALIGN_PUBLIC=1/0 when set; else True on a Hugging Face Space (SPACE_ID is set there), False elsewhere.

    Public means strangers share the instance: caches are kept per visitor (see `EmbeddingCache.for_owner`)."""
    values = _env(env)
    raw = values.get("ALIGN_PUBLIC", "").strip().lower()
    if not raw:
        return bool(values.get("SPACE_ID"))
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"ALIGN_PUBLIC must be one of {', '.join(_TRUE + _FALSE)} (got {raw!r})")


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """$ALIGN_CACHE, else ~/.cache/alignment (the same rule as `alignment.models.settings.default_cache_dir`)."""
    return Path(_env(env).get("ALIGN_CACHE") or Path.home() / ".cache" / "alignment")


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where user work that must survive (tags, notes) lives: $ALIGN_DATA, else `data` beside the cache.

    On a Space, point ALIGN_DATA at a mounted storage bucket; the cache itself may stay ephemeral."""
    values = _env(env)
    return Path(values["ALIGN_DATA"]) if values.get("ALIGN_DATA") else cache_root(values) / "data"


def cache_max_bytes(env: Mapping[str, str] | None = None) -> int | None:
    """The embedding cache's size bound: $ALIGN_CACHE_MAX_MB (0 = unbounded), else 2 GB when public, else none."""
    values = _env(env)
    raw = values.get("ALIGN_CACHE_MAX_MB", "").strip()
    if raw:
        try:
            mb = float(raw)
        except ValueError:
            raise ValueError(f"ALIGN_CACHE_MAX_MB must be a number of megabytes (got {raw!r})") from None
        if mb < 0:
            raise ValueError(f"ALIGN_CACHE_MAX_MB must not be negative (got {raw!r})")
        return int(mb * 1e6) or None
    return int(PUBLIC_CACHE_MB * 1e6) if public_deployment(values) else None
