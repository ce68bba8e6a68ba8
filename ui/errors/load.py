"""Open a dataset for the errors tab: read it (a dataset with media, or precomputed embeddings), evaluate it with
progress, and keep what the views need as the visitor's Explorer; no decoded media stays behind."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from alignment.core.errors import InputError
from alignment.store.tags import TagDatabase
from ui.errors import explore
from ui.errors.inputs import Chosen, dataset_key
from ui.errors.session import Explorer
from ui.visitors import Visitor
from ui.widgets.media import MediaLookup

if TYPE_CHECKING:
    from alignment.analysis.evaluate import QueryBank
    from alignment.models.sources import Source
    from ui.models import AppModels

Report = Callable[[float, str], None]  # (fraction done, what is happening)


def open_dataset(
    models: AppModels,
    database: TagDatabase,
    chosen: Chosen,
    *,
    visitor: Visitor,
    templates: Mapping[str, Sequence[str]],
    on_error: str = "skip",
    hubness: str = "none",
    public: bool = False,
    report: Report | None = None,
) -> Explorer:
    """Read, evaluate and lay out `chosen` for `visitor`. InputError / ValueError name what was wrong with it.

    The caller has let the models' background load settle (torch is imported here). Embedding caches, layouts
    and clusters are the visitor's own on a public deployment, except for the bundled example (shared).
    `hubness` (none, csls, isf, qbnorm) also ranks every direction after that correction; qbnorm's query bank is
    the bundled caption corpus embedded by each space's text tower (none for precomputed embeddings: the
    directions then say why they were not corrected)."""
    from alignment.analysis.evaluate import evaluate
    from alignment.models.sources import is_embeddings, read_dataset, read_embeddings

    say = report or (lambda fraction, message: None)
    shared = chosen.example or not public
    cache = models.cache if shared else models.cache.for_visitor(visitor.owner, public=True)
    key = dataset_key(chosen.path)
    say(0.0, f"Reading {chosen.name}")
    if is_embeddings(chosen.path):
        source = read_embeddings(chosen.path)
    else:
        source = read_dataset(
            chosen.path,
            lambda modalities: (models.get(), models.describe()),
            limits=models.settings.limits,
            on_error=on_error,
            cache=cache,
            progress=lambda f, m: say(0.5 * f, m),
            keep_files=True,
        )
    try:
        evaluation = evaluate(
            source.spaces,
            embed_text=source.embed_text,
            templates=templates,
            hubness=hubness,  # type: ignore[arg-type]
            query_bank=query_bank(models, source, say) if hubness == "qbnorm" else None,
            progress=lambda f, m: say(0.5 + 0.4 * f, m),
        )
    except (InputError, ValueError):
        if source.folder is not None:
            shutil.rmtree(source.folder, ignore_errors=True)
        raise
    media = MediaLookup(source.items, limits=models.settings.limits)
    source.items, source.embed_text = {}, {}  # decoded media and the encoders' closures leave the session here
    explorer = Explorer(
        evaluation,
        source,
        media,
        database.tags(owner=visitor.owner, dataset=key),
        chosen.name,
        models.root / "explore" / ("shared" if shared else f"visitor-{visitor.key}"),
        folder=source.folder,
        embed_query=explore.query_embedder(models, explore.query_spaces(source, models)),
    )
    say(0.9, "Laying out the space")
    explore.first_layout(explorer, explorer.spaces[0])
    return explorer


def query_bank(models: AppModels, source: Source, say: Report) -> QueryBank | None:
    """QB-Norm's bank per space: the bundled caption corpus (CPU_CAPTIONS of it on a CPU, spread evenly: the
    captions the one-space bridge is fitted on) embedded by each space's text tower through the shared cache, since
    the corpus is public: embedded once per server, not once per visitor. None without a text tower."""
    if not source.embed_text:
        return None
    import torch

    from alignment.inputs.text import read_captions
    from alignment.models.embed import text_embedders
    from ui.compare.one_space import CORPUS, CPU_CAPTIONS

    captions = read_captions(CORPUS, None if torch.cuda.is_available() else CPU_CAPTIONS)
    say(0.5, f"Embedding QB-Norm's query bank: {len(captions):,} captions of the bundled corpus (once per server)")
    shared = text_embedders(models.get(), cache=models.cache)
    return {space: {"text": shared[space](captions)} for space in source.embed_text if space in shared}
