"""The Search tab through its API (`/search` on a launched demo, tiny preset) against the library's `search`, and its
pieces without a server: the pair a result hands to Explain, a new k without the models, hostile names."""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from alignment.inputs.embeddings import save_npz
from alignment.models.cache import EmbeddingCache
from alignment.models.encoders import Encoders
from alignment.models.settings import Settings
from alignment.search import Gallery, Query, dataset_galleries, examples_galleries, save_gallery, search
from alignment.space.bridge import Bridge
from ui.assets import ASSETS
from ui.models import AppModels
from ui.search.galleries import DATASET, EXAMPLES, UPLOAD
from ui.search.session import hit_pair, why_not_explained
from ui.search.tab import Handlers
from ui.search.views import results_html

CAT, ROCKET = ASSETS / "images" / "cat.jpg", ASSETS / "images" / "rocket.jpg"
SIREN = ASSETS / "audio" / "siren_sweep.flac"
OUTPUTS = ("summary", "results", "numbers")
HOSTILE = "<img src=x onerror=alert(1)>"


def run_search(
    client: Client,
    text: str | None = None,
    *,
    image: Path | str | None = None,
    audio: Path | str | None = None,
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
    targets: list[str] | None = None,
    gallery: str = EXAMPLES,
    upload: Path | None = None,
    space: str = "auto",
    k: int = 5,
    correction: str = "none",
    sort: str = "best first",
) -> dict:
    out = client.predict(
        text or "",
        handle_file(str(image)) if image else None,
        handle_file(str(audio)) if audio else None,
        *weights,
        targets if targets is not None else ["image", "audio"],
        gallery,
        handle_file(str(upload)) if upload else None,
        space,
        k,
        correction,
        sort,
        api_name="/search",
    )
    return dict(zip(OUTPUTS, out, strict=True))


@pytest.fixture(scope="module")
def bridge(encoders: Encoders, tiny_settings: Settings) -> Bridge:
    """The app's bridge, read back through the one-space path (the app fits it on its first image-audio search)."""
    from alignment.space.shared import shared_space
    from ui.compare.one_space import CORPUS, CPU_CAPTIONS

    root = Path(tiny_settings.cache_dir)  # type: ignore[arg-type]
    return shared_space(
        encoders, CORPUS, root=root, cache=EmbeddingCache(root / "embeddings"), max_captions=CPU_CAPTIONS
    ).bridge


@pytest.fixture(scope="module")
def examples(encoders: Encoders) -> dict[str, Gallery]:
    return examples_galleries(encoders)


def assert_same(got: dict, want: object) -> None:
    """The endpoint's result for one target equals the library's SearchResult."""
    expected = want.to_json()  # type: ignore[attr-defined]
    assert [(h["rank"], h["id"], h["modality"]) for h in got["hits"]] == [
        (h["rank"], h["id"], h["modality"]) for h in expected["hits"]
    ]
    np.testing.assert_allclose([h["score"] for h in got["hits"]], [h["score"] for h in expected["hits"]], atol=1e-5)
    for key in ("method", "combination", "targets", "k", "correction", "space"):
        assert got[key] == expected[key], key
    assert [g["text"] for g in got["modality_gap"]] == [g["text"] for g in expected["modality_gap"]]


# ---------------------------------------------------------------------------- the endpoint against the library


def test_search_equals_the_library(client: Client, encoders: Encoders, examples, bridge: Bridge) -> None:
    out = run_search(client, "a siren wailing", targets=["image", "audio"], k=4)
    numbers = out["numbers"]
    assert set(numbers["searches"]) == {"image", "audio"} and numbers["refused"] == []
    for target in ("image", "audio"):
        want = search(examples, Query.of(text="a siren wailing"), encoders=encoders, targets=[target], k=4)
        assert_same(numbers["searches"][target], want)
    assert numbers["searches"]["image"]["space"]["backbone"] == "clip"  # text meets images in CLIP space
    assert numbers["searches"]["audio"]["space"]["backbone"] == "clap"  # and sounds in CLAP space: no bridge
    assert all(not h["source"].startswith("/") for r in numbers["searches"].values() for h in r["hits"])
    assert "single text" in out["summary"] and "text → image crosses modalities" in out["results"]

    # The results are shown with previews: thumbnails, players, ranks, scores, and a way to Explain each.
    hits = numbers["searches"]
    assert out["results"].count('<img src="data:image/jpeg;base64,') == len(hits["image"]["hits"])
    assert out["results"].count('<audio controls preload="none" src="data:audio/ogg;base64,') == len(
        hits["audio"]["hits"]
    )
    assert out["results"].count('class="explain"') == 8  # a text query: every image and sound explains

    # A photo plus words: the weighted sum of the parts' unit embeddings, said so; the same as the library's.
    mixed = run_search(client, "at night", image=ROCKET, weights=(1.0, 0.5, 1.0), targets=["image"], k=6)
    query = Query.of(text="at night", image=ROCKET, weights={"text": 1.0, "image": 0.5})
    assert_same(
        mixed["numbers"]["searches"]["image"], search(examples, query, encoders=encoders, targets=["image"], k=6)
    )
    assert "weighted sum of unit embeddings" in mixed["summary"]

    # A sound finds images through the bridge (fitted on first use, as the one-space view does, then cached).
    bridged = examples_galleries(encoders, bridge=bridge)
    sound = run_search(client, audio=SIREN, targets=["image", "text"], k=5)
    for target in ("image", "text"):
        want = search(bridged, Query.of(audio=SIREN), encoders=encoders, bridge=bridge, targets=[target], k=5)
        assert_same(sound["numbers"]["searches"][target], want)
    assert "bridge into CLIP space" in sound["results"]
    assert "no explanation is defined" in sound["results"]  # sound -> image: said instead of a broken click
    assert sound["results"].count('class="explain"') == 5  # sound -> text explains (the text with the sound)


def test_the_evaluated_dataset_and_uploads_are_galleries(client: Client, encoders: Encoders, tmp_path) -> None:
    from alignment.models.sources import read_dataset

    with pytest.raises(AppError, match="evaluate one in the Errors tab"):
        run_search(client, "a rocket", gallery=DATASET)
    client.predict(None, True, "skip", "a photo of {}", "the sound of {}", api_name="/evaluate")
    got = run_search(client, "a rocket on the launch pad", gallery=DATASET, targets=["image", "text"], k=3)
    source = read_dataset(ASSETS / "paired.csv", lambda modalities: (encoders, encoders.describe()))
    galleries = dataset_galleries(source.spaces, models=source.models, items=source.items, name="paired.csv")
    for target in ("image", "text"):
        want = search(galleries, Query.of(text="a rocket on the launch pad"), encoders=encoders, targets=[target], k=3)
        assert [h["id"] for h in got["numbers"]["searches"][target]["hits"]] == [h.id for h in want.hits]
    assert got["results"].count('<img src="data:image/jpeg;base64,') == 3  # previews from the dataset's items

    # An embeddings file with a stranger's ids: searched, shown as text, never as markup.
    clip = examples_galleries(encoders)["clip"]
    ids = list(clip.items.ids)
    ids[clip.items.modality.index("image")] = HOSTILE
    vectors = np.stack([clip_vector(clip, row) for row in range(len(clip))])
    from alignment.inputs.embeddings import from_arrays

    npz = save_npz(tmp_path / "mine.npz", from_arrays(ids, list(clip.items.modality), list(clip.items.pair), vectors))
    out = run_search(client, "a tabby cat", gallery=UPLOAD, upload=npz, targets=["image"], k=6)
    assert HOSTILE in [h["id"] for h in out["numbers"]["searches"]["image"]["hits"]]
    assert HOSTILE not in out["results"] and html.escape(HOSTILE) in out["results"]
    assert "precomputed embedding: no image to preview" in out["results"]
    assert "does not record which CLIP checkpoint" in out["results"]
    both = run_search(client, "a tabby cat", gallery=UPLOAD, upload=npz, targets=["image", "audio"], k=2)
    assert set(both["numbers"]["searches"]) == {"image"}  # the file holds no sounds: said, and the images still run
    assert [r.split(":")[0] for r in both["numbers"]["refused"]] == ["sounds"]

    # A zip of an index folder reads back as the same gallery.
    folder = save_gallery(clip, tmp_path / "index")
    archive = tmp_path / "index.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for file in folder.iterdir():
            z.write(file, f"index/{file.name}")
    zipped = run_search(client, "a tabby cat", gallery=UPLOAD, upload=archive, targets=["image"], k=3)
    want = search(clip, Query.of(text="a tabby cat"), encoders=encoders, targets=["image"], k=3)
    assert [h["id"] for h in zipped["numbers"]["searches"]["image"]["hits"]] == [h.id for h in want.hits]
    assert "exact cosine" in zipped["numbers"]["searches"]["image"]["method"]["image"]


def clip_vector(gallery: Gallery, row: int) -> np.ndarray:
    """Row `row`'s vector, read back through an exact search for itself (galleries keep vectors per modality)."""
    modality = gallery.items.modality[row]
    part = gallery.parts[modality]
    return part.searcher.vectors[int(np.flatnonzero(part.rows == row)[0])]  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- bad input: one clear message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "  "}, r"Give a text, an image or a sound"),
        ({"text": "a cat", "targets": []}, r"Choose what to find"),
        ({"text": "a cat", "targets": ["smell"]}, r"'smell'.*not in the list of choices"),
        ({"text": "a cat", "correction": "magic"}, r"magic is not in the list of choices"),
        ({"text": "a cat", "gallery": UPLOAD}, r"no file uploaded"),
        ({"text": "a cat", "k": 500}, r"500 is greater than maximum value 50"),
    ],
    ids=["empty", "no-target", "unknown-target", "unknown-correction", "no-upload", "k-too-large"],
)
def test_bad_queries_are_one_clear_message(client: Client, kwargs: dict, message: str) -> None:
    with pytest.raises(AppError, match=message):
        run_search(client, **kwargs)


def test_an_unreadable_image_is_named_alone_and_the_rest_runs(client: Client, tmp_path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all" * 10)
    with pytest.raises(AppError, match=r"broken\.png"):
        run_search(client, image=broken, targets=["image"])
    out = run_search(client, "a tabby cat", image=broken, targets=["image"], k=3)
    assert [p.split(":")[0] for p in out["numbers"]["refused"]] == ["broken.png"]
    assert len(out["numbers"]["searches"]["image"]["hits"]) == 3  # the text still searched
    assert "broken.png" in out["summary"].replace("\\", "")


def test_a_gallery_of_another_space_or_combination_is_refused(client: Client, encoders: Encoders, tmp_path) -> None:
    from alignment.inputs.embeddings import from_arrays

    rng = np.random.default_rng(0)
    wrong = rng.normal(size=(4, 7)).astype(np.float32)
    npz = save_npz(
        tmp_path / "seven.npz", from_arrays(["a", "b", "c", "d"], ["text", "image"] * 2, ["1", "1", "2", "2"], wrong)
    )
    with pytest.raises(AppError, match=r"7"):
        run_search(client, "a cat", gallery=UPLOAD, upload=npz, targets=["image"])
    clap = examples_galleries(encoders)["clap"]
    vectors = np.stack([clip_vector(clap, row) for row in range(len(clap))])
    sounds = save_npz(
        tmp_path / "sounds.npz",
        from_arrays(list(clap.items.ids), list(clap.items.modality), list(clap.items.pair), vectors),
    )
    with pytest.raises(AppError, match=r"image query cannot search a CLAP|no gallery can answer"):
        run_search(client, image=CAT, gallery=UPLOAD, upload=sounds, space="clap", targets=["audio"])


# ---------------------------------------------------------------------------- without a server


class Progress:
    def __call__(self, *args: object, **kwargs: object) -> None:
        pass


@pytest.fixture(scope="module")
def handlers(tiny_settings: Settings, encoders: Encoders) -> Handlers:
    return Handlers(AppModels(tiny_settings, encoders=encoders))


def searched(handlers: Handlers, text: str | None, image: Path | None = None, targets=("image", "audio"), k: int = 3):
    out = handlers.search(
        text,
        str(image) if image else None,
        None,
        1.0,
        1.0,
        1.0,
        list(targets),
        EXAMPLES,
        None,
        "auto",
        k,
        "none",
        "best first",
        None,
        None,
        None,
        None,
        Progress(),  # type: ignore[arg-type]
    )
    return out[-1]


def test_a_new_k_searches_the_stored_vectors_again(handlers: Handlers, encoders: Encoders, examples) -> None:
    first = searched(handlers, "a clock ticking", k=2)
    summary, shown, numbers, again = handlers.resize(first, 6, "best first")
    for target in ("image", "audio"):
        want = search(examples, Query.of(text="a clock ticking"), encoders=encoders, targets=[target], k=6)
        assert_same(numbers["searches"][target], want)
    assert again.k == 6 and "top 6" in summary
    worst = handlers.resort(again, "worst first")
    ranks = [int(r) for r in re.findall(r'<li class="hit" data-target="image" data-rank="(\d+)"', worst)]
    assert ranks == [6, 5, 4, 3, 2, 1]
    assert handlers.resize(None, 6, "best first")[0] is not None  # before any search: nothing changes, no error


def test_every_result_pairs_with_the_query_for_explain(handlers: Handlers) -> None:
    text_query = searched(handlers, "a rocket", targets=("image", "audio", "text"))
    image_pair = hit_pair(text_query, "image", 1)
    assert image_pair.text == "a rocket" and image_pair.modality == "image"
    assert Path(image_pair.path).is_relative_to(ASSETS)  # the bundled file itself
    assert hit_pair(text_query, "audio", 2).modality == "audio"
    with pytest.raises(ValueError, match="Text → text"):
        hit_pair(text_query, "text", 1)
    with pytest.raises(ValueError, match="no text result at rank 9"):
        hit_pair(text_query, "text", 9)

    photo = searched(handlers, None, image=CAT, targets=("text", "image"))
    text_hit = photo.results["text"].hits[0]
    assert hit_pair(photo, "text", 1).text == text_hit.text and hit_pair(photo, "text", 1).path == str(CAT)
    assert "no explanation is defined" in str(why_not_explained(photo, photo.results["image"].hits[0]))


def test_stranger_names_never_become_markup(handlers: Handlers) -> None:
    from dataclasses import replace

    base = searched(handlers, "a cat", targets=("image",))
    hit = replace(base.results["image"].hits[0], id=HOSTILE, label=HOSTILE, pair="</li><script>x()</script>")
    result = replace(base.results["image"], hits=(hit,))
    page = results_html(replace(base, results={"image": result}))
    assert "<img src=x" not in page and "<script>" not in page
    assert html.escape(HOSTILE) in page


# ---------------------------------------------------------------------------- queues and the models' load


def test_quick_events_stay_out_of_the_models_queue(tiny_settings: Settings, encoders: Encoders) -> None:
    """A new k or order re-reads the session's search without the models: never queued behind a model job."""
    import app

    demo = app.build_demo(tiny_settings, encoders)
    fns = {getattr(f.fn, "__qualname__", ""): f for f in demo.fns.values()}
    assert fns["Handlers.search"].concurrency_id == app.ENCODERS and fns["Handlers.search"].api_name == "search"
    for quick in ("Handlers.resize", "Handlers.resort"):
        assert fns[quick].concurrency_id != app.ENCODERS and fns[quick].api_visibility == "private"


def test_a_search_while_the_models_load_waits_for_them(
    tiny_settings: Settings, encoders: Encoders, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from browser import served

    import app

    def slow(self: AppModels) -> Encoders:
        time.sleep(3.0)
        return encoders

    monkeypatch.setattr(AppModels, "_load_encoders", slow)
    with served(app.build_demo(tiny_settings), app.launch_options()) as address:
        client = Client(address, verbose=False, download_files=False)
        out = run_search(client, "a tabby cat", targets=["image"], k=2)
        assert [h["rank"] for h in out["numbers"]["searches"]["image"]["hits"]] == [1, 2]


def test_an_approximate_index_says_its_measured_recall(client: Client, encoders: Encoders, tmp_path) -> None:
    from alignment.analysis.index import IndexSettings
    from alignment.inputs.embeddings import from_arrays
    from alignment.search import Space, index_gallery

    rng = np.random.default_rng(0)
    dim = encoders.clip.dim
    vectors = rng.normal(size=(600, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids, pairs = [f"img{i}" for i in range(600)], [f"p{i}" for i in range(600)]
    embedded = from_arrays(ids, ["image"] * 600, pairs, vectors, require_pairs=False)
    gallery = index_gallery(embedded, space=Space("clip", dim), settings=IndexSettings(kind="ivf"), name="random")
    folder = save_gallery(gallery, tmp_path / "ivf")
    archive = tmp_path / "ivf.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for file in folder.iterdir():
            z.write(file, file.name)
    out = run_search(client, "a tabby cat", gallery=UPLOAD, upload=archive, targets=["image"], k=10)
    method = out["numbers"]["searches"]["image"]["method"]["image"]
    assert method.startswith("FAISS IVF (approximate") and "recall@10" in method
    assert html.escape(method) in out["results"]  # shown beside the results
    want = search(gallery, Query.of(text="a tabby cat"), encoders=encoders, targets=["image"], k=10)
    assert [h["id"] for h in out["numbers"]["searches"]["image"]["hits"]] == [h.id for h in want.hits]


def test_a_hubness_correction_re_ranks_as_the_library_does_and_says_so(
    client: Client, encoders: Encoders, examples, tmp_path
) -> None:
    from alignment.inputs.embeddings import from_arrays
    from alignment.search import choose_gallery, hubness_correction

    out = run_search(client, "a siren wailing", targets=["image", "audio"], k=4, correction="CSLS")
    for target in ("image", "audio"):
        gallery = choose_gallery(examples, ["text"], [target])
        fix = hubness_correction("csls", gallery, target, "text")  # against the gallery's captions
        want = search(
            examples, Query.of(text="a siren wailing"), encoders=encoders, targets=[target], k=4, correction=fix
        )
        assert_same(out["numbers"]["searches"][target], want)
        assert want.correction.startswith("CSLS (statistics of the") and "text items" in want.correction
    assert "hubness correction **CSLS**" in out["summary"] and out["numbers"]["refused"] == []

    # A gallery without the queries' modality has nothing to measure its items against: plain cosine, said so.
    clip = examples["clip"]
    rows = [r for r in range(len(clip)) if clip.items.modality[r] == "image"]
    vectors = np.stack([clip.parts["image"].searcher.vectors[list(clip.parts["image"].rows).index(r)] for r in rows])
    photos = save_npz(
        tmp_path / "photos.npz",
        from_arrays(
            [clip.items.ids[r] for r in rows],
            ["image"] * len(rows),
            [str(r) for r in rows],
            vectors,
            require_pairs=False,
        ),
    )
    plain = run_search(client, "a cat", gallery=UPLOAD, upload=photos, targets=["image"], correction="QB-Norm")
    assert [h["id"] for h in plain["numbers"]["searches"]["image"]["hits"]]  # results all the same
    assert plain["numbers"]["searches"]["image"]["correction"] is None
    assert any("no hubness correction, plain cosine used" in r and "holds 0" in r for r in plain["numbers"]["refused"])
