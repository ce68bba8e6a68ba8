"""Synthetic embedding spaces with a known ground truth, for the bridge and fusion tests.

Shared latent concepts z (N, k) go through hidden random maps (plus noise) into two "spaces"; row i of one
space pairs with row i of the other, so a good bridge must recover the pairing on rows it never saw.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Kind = Literal["isometric", "linear", "tanh", "cos"]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def noisy(rng: np.random.Generator, x: np.ndarray, noise: float) -> np.ndarray:
    """Unit rows plus isotropic noise of expected length `noise`, renormalised."""
    x = unit(x)
    return unit(x + noise * rng.standard_normal(x.shape) / np.sqrt(x.shape[1]))


def orthonormal_rows(rng: np.random.Generator, k: int, d: int) -> np.ndarray:
    """(k, d) with orthonormal rows: an isometric embedding of R^k into R^d."""
    q, _ = np.linalg.qr(rng.standard_normal((d, k)))
    return q.T


def paired_spaces(
    n: int, kind: Kind, *, seed: int = 0, k: int = 8, ds: int = 24, dt: int = 32, noise: float = 0.05, gain: float = 0.4
) -> tuple[np.ndarray, np.ndarray]:
    """(src (n, ds), tgt (n, dt)) unit rows from the same latents z.

    src = z A (A isometric) in every case; tgt = z B for "isometric" (B isometric: an exact rotation between
    the spaces exists) and "linear" (B Gaussian: a general linear map), tanh(z G) for "tanh" (a monotone warp)
    and cos(pi * z G + phase) for "cos" (a non-monotone warp: no linear map follows it).
    """
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k))
    a = orthonormal_rows(rng, k, ds)
    if kind == "isometric":
        t = z @ orthonormal_rows(rng, k, dt)
    elif kind == "linear":
        t = z @ rng.standard_normal((k, dt))
    elif kind == "tanh":
        t = np.tanh(z @ (rng.standard_normal((k, dt)) * 2.0 / np.sqrt(k)))
    elif kind == "cos":
        g = rng.standard_normal((k, dt)) * gain / np.sqrt(k)
        t = np.cos(np.pi * z @ g + rng.uniform(0, 2 * np.pi, dt))
    else:
        raise ValueError(kind)
    return noisy(rng, z @ a, noise), noisy(rng, t, noise)


def text_and_audio(
    n: int,
    *,
    seed: int = 0,
    k: int = 8,
    ds: int = 24,
    dt: int = 32,
    noise: float = 0.05,
    offset: float = 1.0,
    extra: float = 0.6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src_text, tgt_text, src_audio): the source space's second modality is the same latents through the
    same map plus a constant offset (length `offset`: a modality gap) and extra noise, like CLAP audio vs text.

    The target is tanh(z G), so the bridge worth fitting is the MLP. The offset is orthogonal to the span of
    the text rows (k < ds), as the modality gap is roughly orthogonal to the directions captions vary in:
    a map that was only ever shown text is unconstrained exactly where the audio rows land.
    """
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k))
    a = orthonormal_rows(rng, k, ds)
    target = np.tanh(z @ (rng.standard_normal((k, dt)) * 2.0 / np.sqrt(k)))
    text = z @ a / np.sqrt(k)  # rows of about unit length, so the offset's length is relative to them
    gap = rng.standard_normal(ds)
    gap -= a.T @ (a @ gap)  # remove its component in the text span
    gap *= offset / np.linalg.norm(gap)
    audio = text + gap + extra * rng.standard_normal(text.shape) / np.sqrt(ds)
    return noisy(rng, text, noise), noisy(rng, target, noise), unit(audio)


def split_identity(
    n: int, *, seed: int = 0, k: int = 16, d: int = 32, noise: float = 0.1
) -> tuple[list[np.ndarray], np.ndarray]:
    """Two modalities that each carry half of the item's identity: A sees latents 0..k/2, B the rest."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k))
    c = orthonormal_rows(rng, k, d)
    h = k // 2
    target = noisy(rng, z @ c, noise)
    return [noisy(rng, z[:, :h] @ c[:h], noise), noisy(rng, z[:, h:] @ c[h:], noise)], target


def planted_noise_modality(
    n: int, *, seed: int = 0, k: int = 8, d: int = 32, noise: float = 0.2
) -> tuple[list[np.ndarray], np.ndarray]:
    """[pure noise, informative]: modality 0 is random unit vectors, modality 1 a noisy copy of the target."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k))
    c = orthonormal_rows(rng, k, d)
    target = noisy(rng, z @ c, 0.05)
    return [unit(rng.standard_normal((n, d))), noisy(rng, z @ c, noise)], target
