"""The explore demo's dataset: real photos, real recordings and captions in a planted embedding space.

No model here can embed photos meaningfully offline (the tests' models are random), so the space is planted:
every photo or clip is a point near its concept's centre (birds, pets, paper sounds...), and a pair's caption and
media are drawn around that point plus a shared offset, with a modality gap. Two concept pairs are planted close
together (birds / garden, paper / machines) so the model confuses them, and a share of pairs get the caption of
another concept (data errors). Media repeat (each file stands for many items of its kind), so the thumbnails are
real but the vectors are not a model's. The evaluation, clusters, metrics and errors on top are all real.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from alignment.analysis.evaluate import Evaluation, evaluate
from alignment.inputs.embeddings import Embedded, from_arrays
from alignment.inputs.files import load_files
from alignment.inputs.items import Item, Modality
from alignment.views.points import PointSet, QueryOutcomes
from alignment.views.projection import pca_2d, project

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"
SHARED = ROOT.parent / "shared" / "data"
DIM = 64
CONFUSED = {"garden": "birds", "machines": "paper"}  # planted close to the other one, with less detail per pair:
# the model mixes these up
HOSTILE = "<img src=x onerror=alert(1)>"
SPREAD = 0.45  # a photo's or clip's spot around its concept centre (per dimension)
DETAIL = 0.22  # a pair's own offset from its spot: what tells pairs of one file apart
DETAIL_CONFUSED = 0.1  # the same in the confused concepts: the model sees less detail there
NOISE = 0.12  # per item

PHOTOS: dict[str, tuple[str, list[str]]] = {  # file -> (concept, captions)
    "bird.bmp": ("birds", ["a small bird perched on a branch", "a songbird with brown feathers on a twig"]),
    "owl.jpg": ("birds", ["an owl staring with big yellow eyes", "a brown owl perched in a tree"]),
    "parrot.jpg": ("birds", ["a colourful parrot with a curved beak", "a parrot with bright feathers"]),
    "cat.bmp": ("pets", ["a tabby cat with green eyes", "a striped kitten looking at the camera"]),
    "pets.jpg": ("pets", ["a dog and a cat resting together", "a puppy lying next to a kitten"]),
    "dragonfly.bmp": ("garden", ["a dragonfly with transparent wings on a stem", "an insect resting in the garden"]),
    "sunflower.bmp": ("garden", ["a bright yellow sunflower with large petals", "a flower blooming in the garden"]),
    "grace_hopper.bmp": ("people", ["a portrait of a woman in a navy uniform", "an officer in uniform and cap"]),
    "hot_dog.jpg": ("food", ["a hot dog with mustard in a bun", "a grilled sausage in a bread roll"]),
    "kite_and_cold.jpg": ("sky", ["people flying a kite high in the sky", "a kite above a snowy field"]),
}
ASSET_PHOTOS: dict[str, tuple[str, list[str]]] = {
    "cat.jpg": ("pets", ["a close-up photo of a tabby cat", "a cat with long whiskers"]),
    "coffee.jpg": ("food", ["a cup of coffee on a wooden table", "an espresso on a saucer"]),
    "rocket.jpg": ("sky", ["a rocket on the launch pad at night", "a rocket ready to launch into the sky"]),
    "galaxies.jpg": ("sky", ["a telescope image of distant galaxies", "thousands of galaxies in deep space"]),
    "astronaut.jpg": ("people", ["a portrait of an astronaut in a spacesuit", "a smiling astronaut in orange"]),
    "photographer.jpg": ("people", ["a man with a camera on a tripod", "a black and white photo of a photographer"]),
}
CLIP_CONCEPTS = {  # Clotho file name (start) -> concept; captions come from Clotho's captions.csv
    "01 A pug": "animals",
    "01 hospital elevator": "machines",
    "01 barreau bunker": "machines",
    "Flipping Pages": "paper",
    "turning pages": "paper",
    "02-Bakken_Rollercoaster": "crowds",
    "Tenerife_bazaar": "crowds",
}
ASSET_SOUNDS: dict[str, tuple[str, list[str]]] = {
    "speech_man.flac": ("speech", ["a man speaking about the weather", "a male voice reading a sentence"]),
    "speech_woman.flac": ("speech", ["a woman leaving a phone message", "a female voice speaking clearly"]),
    "beeps_1khz.flac": ("machines", ["an electronic device beeping", "short beeps of a machine"]),
    "siren_sweep.flac": ("machines", ["a siren wailing up and down", "an alarm siren sweeping"]),
    "clock_ticks.flac": ("machines", ["a clock ticking steadily", "the ticking of a mechanical clock"]),
    "rain_noise.ogg": ("weather", ["rain falling steadily outside", "the sound of heavy rain"]),
}


@dataclass(frozen=True)
class Media:
    item: Item  # the decoded photo or clip
    concept: str
    captions: tuple[str, ...]


def media_library() -> list[Media]:
    """The real files this checkout has: ../shared/data when present, the bundled assets always."""
    out: list[Media] = []
    folders = [(SHARED / "photos", PHOTOS), (ASSETS / "images", ASSET_PHOTOS)]
    for folder, table in folders:
        for name, (concept, captions) in table.items():
            if (folder / name).exists():
                (item,) = load_files([folder / name], "image").items
                out.append(Media(item, concept, tuple(captions)))
    clotho = SHARED / "clotho_subset"
    if (clotho / "captions.csv").exists():
        with open(clotho / "captions.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                concept = next((c for start, c in CLIP_CONCEPTS.items() if row["file_name"].startswith(start)), None)
                if concept and (clotho / "audio" / row["file_name"]).exists():
                    (item,) = load_files([clotho / "audio" / row["file_name"]], "audio").items
                    captions = tuple(row[f"caption_{i}"] for i in range(1, 6))
                    out.append(Media(item, concept, captions))
    for name, (concept, captions) in ASSET_SOUNDS.items():
        (item,) = load_files([ASSETS / "audio" / name], "audio").items
        out.append(Media(item, concept, tuple(captions)))
    return out


@dataclass(frozen=True, eq=False)
class DemoSet:
    """A planted, evaluated dataset with real media: what the explore demo and its browser tests show."""

    embedded: Embedded
    evaluation: Evaluation
    items: Mapping[tuple[str, str], Item]
    captions: tuple[str, ...]  # per row: its caption, or its pair's caption (for naming clusters)
    coords: np.ndarray  # (N, 2)
    method: str
    centres: Mapping[str, np.ndarray]  # media sha256 -> its planted centre (errors near an uploaded file)
    words: Mapping[str, np.ndarray]  # caption word -> the mean centre of the media whose captions use it
    gap: np.ndarray  # (D,) the planted modality shift of texts

    def item(self, modality: str, item_id: str) -> Item | None:
        return self.items.get((modality, item_id))

    def embed_query(self, kind: Modality, value: str) -> dict[str, np.ndarray]:
        """The demo's stand-in for a model: a text lands at the centre of the media its words describe; a photo or
        clip from the demo's own files lands at its centre. Anything else is refused by name."""
        if kind == "text":
            found = [self.words[w] for w in re.findall(r"[a-z]+", value.lower()) if w in self.words]
            if not found:
                raise ValueError(f"none of the words of {value[:60]!r} occurs in the demo's captions (try 'parrot')")
            return {"shared": _unit(np.mean(found, axis=0) + self.gap)}
        digest = hashlib.sha256(Path(value).read_bytes()).hexdigest()
        if digest not in self.centres:
            raise ValueError(f"{Path(value).name}: the planted demo space only knows its own photos and clips")
        return {"shared": _unit(self.centres[digest] - self.gap)}


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def demo_set(
    n_pairs: int = 600,
    *,
    seed: int = 0,
    data_errors: float = 0.04,
    method: str = "auto",
    hostile: bool = False,
) -> DemoSet:
    """`n_pairs` (caption, photo or clip) pairs over the media library; `hostile` puts script-like text into some
    ids and captions (every view must show them as text)."""
    if n_pairs < 10:
        raise ValueError(f"the demo needs at least 10 pairs (got {n_pairs})")
    rng = np.random.default_rng(seed)
    library = media_library()
    concepts = sorted({m.concept for m in library})
    centre = {c: rng.standard_normal(DIM) * 1.0 for c in concepts}  # (D,) each
    for near, other in CONFUSED.items():
        if near in centre and other in centre:
            centre[near] = 0.75 * centre[other] + 0.25 * centre[near]
    spot = {m.item.sha256: centre[m.concept] + rng.standard_normal(DIM) * SPREAD for m in library}
    gap = rng.standard_normal(DIM) * 0.12
    picks = rng.integers(0, len(library), n_pairs)
    wrong = rng.random(n_pairs) < data_errors
    ids, modality, pair, label, vectors, captions = [], [], [], [], [], []
    items: dict[tuple[str, str], Item] = {}
    for i, k in enumerate(picks.tolist()):
        media = library[k]
        told = library[rng.integers(len(library))] if wrong[i] else media  # a data error: another item's caption
        caption = str(rng.choice(told.captions))
        key = f"p{i:05d}"
        blurred = media.concept in CONFUSED or media.concept in CONFUSED.values()
        offset = rng.standard_normal(DIM) * (DETAIL_CONFUSED if blurred else DETAIL)
        if hostile and i % 50 == 7:
            caption = f"{HOSTILE} {caption}"
            key = f"{key} {HOSTILE}"
        text_at = spot[told.item.sha256] if told is not media else spot[media.item.sha256]
        rows = (
            (
                "text",
                f"{key} caption",
                None,
                text_at + offset + gap,
                Item(f"{key} caption", "text", caption, "", "demo"),
            ),
            (
                media.item.modality,
                f"{key} {media.item.id}",
                media.concept,
                spot[media.item.sha256] + offset - gap,
                None,
            ),
        )
        for m, item_id, lab, vector, text_item in rows:
            ids.append(item_id)
            modality.append(m)
            pair.append(key)
            label.append(lab)
            vectors.append(vector + rng.standard_normal(DIM) * NOISE)
            captions.append(caption)
            items[(m, item_id)] = text_item or Item(
                item_id, m, media.item.payload, media.item.sha256, media.item.source
            )
    embedded = from_arrays(ids, modality, pair, np.array(vectors), label=label, source="explore demo")
    projected = project(embedded.embeddings, method="pca" if method == "pca" else "auto")
    words: dict[str, list[np.ndarray]] = {}
    for m in library:
        for w in set(re.findall(r"[a-z]+", " ".join(m.captions).lower())):
            if len(w) > 3:
                words.setdefault(w, []).append(spot[m.item.sha256])
    return DemoSet(
        embedded,
        evaluate({"shared": embedded}),
        items,
        tuple(captions),
        projected.coords,
        projected.method,
        spot,
        {w: np.mean(v, axis=0) for w, v in words.items()},
        gap,
    )


@lru_cache(maxsize=2)
def scale_points(n_points: int, *, seed: int = 0) -> tuple[PointSet, np.ndarray, dict[tuple[str, str], Item]]:
    """`n_points` planted points for the scale check: real media and captions, PCA coordinates, and no
    evaluation (scoring 100k items takes minutes here; the check is about drawing, hovering and selecting).
    Returns the point set, its embeddings and the items its ids name."""
    library = media_library()
    rng = np.random.default_rng(seed)
    centre = {m.item.sha256: rng.standard_normal(DIM) for m in library}
    picks = rng.integers(0, len(library), n_points // 2)
    vectors = np.empty((2 * len(picks), DIM), np.float32)  # (N, D): caption, media, caption, media...
    ids, modality, pair, label = [], [], [], []
    items: dict[tuple[str, str], Item] = {}
    for i, k in enumerate(picks.tolist()):
        media = library[k]
        key = f"s{i:06d}"
        base = centre[media.item.sha256] + rng.standard_normal(DIM) * 0.3
        vectors[2 * i] = base + rng.standard_normal(DIM) * 0.1
        vectors[2 * i + 1] = base + rng.standard_normal(DIM) * 0.1
        caption = media.captions[i % len(media.captions)]
        for m, item_id, lab in (
            ("text", f"{key} caption", None),
            (media.item.modality, f"{key} {media.item.id}", media.concept),
        ):
            ids.append(item_id)
            modality.append(m)
            pair.append(key)
            label.append(lab)
        items[("text", f"{key} caption")] = Item(f"{key} caption", "text", caption, "", "demo")
        items[(media.item.modality, f"{key} {media.item.id}")] = media.item
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    nothing = QueryOutcomes((), *(np.zeros(0, np.int64) for _ in range(3)), np.zeros(0, np.float32))
    points = PointSet(
        "shared",
        pca_2d(vectors),
        tuple(ids),
        tuple(modality),  # type: ignore[arg-type]
        tuple(pair),
        tuple(label),
        nothing,
        tuple(() for _ in ids),
        np.zeros(len(ids), bool),
        method="pca",
    )
    return points, vectors, items
