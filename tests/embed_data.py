"""A small real collection for the embed tests: the shared photos and Clotho clips, captions, and two bad rows."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from conftest import shared_path


def make_collection(folder: Path, *, repeat: int = 1, audio: bool = True, bad: bool = True) -> Path:
    """A long-form manifest in `folder` over copies of the real files; returns the manifest path.

    Each photo (and, with `audio`, each of three Clotho clips) is paired with a caption; `repeat` lists every
    photo that many times under other ids (a larger collection from the same files). With `bad`: a corrupt
    image (decoding fails) and a caption longer than the text limit, which must be reported, not dropped.
    """
    photos = sorted(shared_path("photos").iterdir())
    clips = sorted(shared_path("clotho_subset", "audio").glob("*.wav"))[:3] if audio else []
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    rows = [("id", "modality", "content", "pair", "label")]
    for path in [*photos, *clips]:
        shutil.copy(path, media / path.name.replace(" ", "_"))
    for k in range(repeat):
        for path in photos:
            key = f"{path.stem}-{k}"
            rows.append((key, "image", f"media/{path.name}", key, path.stem))
            rows.append((f"{key} caption", "text", f"a photo of a {path.stem.replace('_', ' ')} ({k})", key, ""))
    for path in clips:
        key = path.stem.replace(" ", "_")
        rows.append((key, "audio", f"media/{path.name.replace(' ', '_')}", key, ""))
        rows.append((f"{key} caption", "text", f"the sound of {path.stem}", key, ""))
    if bad:
        (media / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
        rows.append(("broken", "image", "media/broken.jpg", "broken", ""))
        rows.append(("broken caption", "text", "a broken photo", "broken", ""))
        rows.append(("too long", "text", "x" * 2_500, "long", ""))
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return manifest
