"""The Compare tab's "one space" view: CLAP audio mapped into CLIP space by the bridge, so images and sounds meet."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np

from alignment.analysis.comparison import Comparison
from alignment.views import figures
from alignment.views.projection import project
from ui.assets import ASSETS
from ui.compare.projection import show_space
from ui.models import AppModels
from ui.visitors import Visitor, visitor_of
from ui.widgets.errors import refuse
from ui.widgets.projection import ProjectionExplorer

if TYPE_CHECKING:  # the bridge (torch) is imported when the view is asked for
    from alignment.space.shared import SharedSpace

CORPUS = ASSETS / "corpus" / "captions.txt"
CPU_CAPTIONS = 1_000  # on CPU the real text towers embed ~3-13 captions/s: the full corpus would take ~30 min


def one_space_json(comparison: Comparison, space: SharedSpace) -> dict:
    """Ids, the image x audio matrix and the full text/image/audio matrix in CLIP space, and the bridge."""
    audio = space.to_clip(comparison.clap_audio)  # (A, D_clip)
    everything = np.concatenate([comparison.clip_text, comparison.clip_image, audio])  # (T + I + A, D_clip)
    ids = (
        [("text", i.id) for i in comparison.texts]
        + [("image", i.id) for i in comparison.images]
        + [("audio", i.id) for i in comparison.audio]
    )
    return {
        "bridge": space.bridge.to_json() | {"path": str(space.path), "loaded": space.loaded},
        "ids": [{"modality": m, "id": i} for m, i in ids],
        "image_audio": {
            "rows": [i.id for i in comparison.images],
            "cols": [i.id for i in comparison.audio],
            "cosine": (comparison.clip_image @ audio.T).round(6).tolist(),
        },
        "full": (everything @ everything.T).round(6).tolist(),
        "embeddings": everything,  # dropped before the JSON leaves the server (see `views`)
    }


def views(
    comparison: Comparison,
    space: SharedSpace,
    explorer: ProjectionExplorer,
    *,
    captions: Mapping[str, str] | None = None,
) -> tuple:
    """(markdown, image x audio heatmap, full matrix heatmap, the one space in `explorer`, JSON) for the UI."""
    numbers = one_space_json(comparison, space)
    embeddings = numbers.pop("embeddings")
    labels = [f"{x['modality']}: {x['id']}" for x in numbers["ids"]]
    block = numbers["image_audio"]
    image_audio = figures.heatmap(
        np.asarray(block["cosine"], dtype=np.float32).reshape(len(block["rows"]), len(block["cols"])),
        block["rows"],
        block["cols"],
        title="Image × audio (audio through the bridge)",
    )
    full = figures.heatmap(
        np.asarray(numbers["full"], dtype=np.float32), labels, labels, title="Every item × every item, CLIP space"
    )
    projected = project(embeddings)
    bridged = embeddings[len(comparison.texts) + len(comparison.images) :]
    joint = show_space(
        explorer,
        comparison,
        "one",
        projected.coords,
        method=projected.method,
        captions=captions,
        bridged_audio=bridged,
    )
    numbers["projection"] = {
        "ids": [x["id"] for x in numbers["ids"]],
        "modalities": [x["modality"] for x in numbers["ids"]],
        "coords": np.round(projected.coords, 5).tolist(),
        "method": projected.method,
    }
    return f"**One space.** {space.describe()}", image_audio, full, joint, numbers


def one_space_handler(
    models: AppModels, explorer: ProjectionExplorer, *, captions: Mapping[str, str] | None = None
) -> Callable[..., tuple]:
    """The event function: fit or load the bridge (progress bar on first use), then draw the views (the joint
    projection in `explorer`; `captions`: the intended caption of each bundled image and sound)."""

    def run(
        comparison: Comparison | None,
        corpus: str | None,
        visitor_state: Visitor | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple:
        if comparison is None:
            raise refuse("Run a comparison first: the one-space view maps its audio into CLIP space.")
        if not comparison.audio or not (comparison.images or comparison.texts):
            raise refuse("The one-space view needs audio and at least one image or text in the comparison.")
        visitor = visitor_of(visitor_state, request)
        with models.gate.run(visitor, "the one-space view"):
            encoders = models.get(progress)  # first: the import below must not race the background load's
            from alignment.space.shared import shared_space  # torch: only when the view is asked for

            fitted_on = None if encoders.clip.device.type == "cuda" else CPU_CAPTIONS
            try:
                space = shared_space(
                    encoders,
                    corpus or CORPUS,
                    root=models.root,
                    cache=models.cache if corpus is None else models.cache_for(visitor),  # the bundled corpus is shared
                    max_captions=fitted_on,
                    progress=lambda f, m: progress(f, desc=m),
                )
            except (ValueError, OSError) as exc:
                raise refuse(f"The bridge could not be fitted or loaded: {exc}") from None
        return views(comparison, space, explorer, captions=captions)

    return run
