"""One visitor's evaluated dataset in the errors tab: the numbers, the items as texts and file paths, the visitor's
tags, and a layout and clusters per space. It holds embeddings, ids, scores and small things; no decoded media."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from alignment.store.tags import OwnerTags
from ui.errors.tags import VisitorTags
from ui.widgets.media import MediaLookup

if TYPE_CHECKING:  # evaluate imports torch: loaded when a dataset is evaluated
    from alignment.analysis.clusters import Clusters
    from alignment.analysis.evaluate import ErrorRow, Evaluation
    from alignment.models.sources import Source
    from alignment.views.layouts import Layout
    from alignment.views.points import PointSet

QueryKind = Literal["text", "image", "audio"]
EmbedQuery = Callable[[QueryKind, str], Mapping[str, np.ndarray]]


@dataclass(eq=False)
class Explorer:
    """An evaluated dataset in one browser session (gr.State); `cleanup` runs when the session's state expires."""

    evaluation: Evaluation
    source: Source  # spaces and the dataset's description; its decoded items and prompt embedders are dropped
    media: MediaLookup
    tags: OwnerTags  # this visitor's tags of this dataset
    name: str  # the dataset as the page names it
    cache_dir: Path  # layouts and clusters of this dataset (per visitor on a public deployment)
    folder: Path | None = None  # a zip's extracted files, read again for previews; deleted with the session
    embed_query: EmbedQuery | None = None  # a text, image or sound -> its vector per space (None: no model fits)
    layouts: dict[str, Layout] = field(default_factory=dict)  # space -> the layout shown
    clusters: dict[str, Clusters] = field(default_factory=dict)  # space -> clusters, once computed
    refined: set[str] = field(default_factory=set)  # spaces whose UMAP layout and clusters are done
    _points: dict[str, tuple[int, int, PointSet]] = field(default_factory=dict)
    _by_row: dict[str, dict[int, list[int]]] = field(default_factory=dict)

    @property
    def tagger(self) -> VisitorTags:
        return VisitorTags(self.tags)

    @property
    def spaces(self) -> list[str]:
        """Spaces with at least one evaluated direction, in evaluation order."""
        return list(dict.fromkeys(d.space for d in self.evaluation.directions.values()))

    def points(self, space: str) -> PointSet:
        """The space's PointSet at its current layout and clusters (built again when either changed)."""
        from alignment.views.points import point_set

        layout, clusters = self.layouts[space], self.clusters.get(space)
        held = self._points.get(space)
        if held is None or held[0] != id(layout) or held[1] != id(clusters):
            points = point_set(self.evaluation, space, layout.coords, clusters=clusters, method=layout.method)
            held = (id(layout), id(clusters), points)
            self._points[space] = held
        return held[2]

    def errors_at(self, space: str, row: int) -> list[int]:
        """Indices into evaluation.errors that a row of a space takes part in: those it is the query of (largest
        margin first), then those it wins as the top wrong match, then those it is the truth of."""
        if space not in self._by_row:
            roles: dict[int, list[tuple[int, float, int]]] = {}
            for e, error in enumerate(self.evaluation.errors):
                if error.space != space:
                    continue
                for role, r in enumerate((error.query_row, error.top_row, error.truth_row)):
                    roles.setdefault(r, []).append((role, -error.margin, e))
            self._by_row[space] = {r: [e for *_, e in sorted(found)] for r, found in roles.items()}
        return self._by_row[space].get(row, [])

    def error(self, e: int) -> ErrorRow:
        return self.evaluation.errors[e]

    def cleanup(self) -> None:
        """Delete what the session kept on disk (a zip's files)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def nbytes(self) -> int:
        """About what the session holds in memory: embeddings, ranks, error rows, layouts, clusters and items."""
        seen: set[int] = set()

        def arrays(value: object) -> int:
            if id(value) in seen:
                return 0
            seen.add(id(value))
            if isinstance(value, np.ndarray):
                return int(value.nbytes)
            if hasattr(value, "__dataclass_fields__"):
                return sum(arrays(getattr(value, f)) for f in value.__dataclass_fields__)  # type: ignore[attr-defined]
            if isinstance(value, dict):
                return sum(arrays(k) + arrays(v) for k, v in value.items())
            if isinstance(value, list | tuple):
                return sys.getsizeof(value) + sum(arrays(v) for v in value)
            return sys.getsizeof(value)

        held = arrays(self.evaluation) + arrays(self.source.spaces) + arrays(self.layouts) + arrays(self.clusters)
        return held + self.media.nbytes()


def cleanup(explorer: object) -> None:
    """gr.State's delete_callback: a session's state expired or its page closed."""
    if isinstance(explorer, Explorer):
        explorer.cleanup()
