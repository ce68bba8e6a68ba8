"""The bundled example, aligned the moment the page opens: prepared once (at the first start, or by
`python app.py --prepare`), saved beside the embedding cache, and read back while the models are still loading.

A prepared comparison is keyed by the checkpoints (ids and revisions, found without loading them), the device
setting and the example's contents, so another model, revision or example file is never shown a stale result.
Once the models are loaded, `prepare` recomputes it (every embedding is a cache hit by then) and replaces the
file and the copy in memory if anything differs, e.g. the dtype of another device.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from alignment.analysis.comparison import Comparison, load_comparison, save_comparison
from alignment.models.checkpoints import known_revision
from ui.models import AppModels

if TYPE_CHECKING:
    from alignment.models.encoders import Encoders

PREPARED_FORMAT = "1"  # bump when what is prepared (projections, the result's fields) changes


@dataclass(frozen=True)
class Prepared:
    """A comparison and its API result (projection included), ready to be shown without any model."""

    comparison: Comparison
    result: dict


def input_key(texts: Sequence[str], images: Sequence[str], audio: Sequence[str]) -> str:
    """What a comparison's inputs are, by content: the texts and each file's SHA-256 (names and paths don't count)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(list(texts)).encode("utf-8", "surrogatepass"))
    for kind, paths in (("image", images), ("audio", audio)):
        for path in paths:
            digest.update(f"|{kind}|".encode())
            digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return digest.hexdigest()


class PreparedExample:
    """The prepared comparison of one example set; `lookup` answers for inputs that are exactly that set."""

    def __init__(self, models: AppModels, example: dict) -> None:
        self.models = models
        self.texts, self.images, self.audio = list(example["texts"]), list(example["images"]), list(example["audio"])
        self._inputs = input_key(self.texts, self.images, self.audio)
        self._prepared: Prepared | None = None
        self._lock = threading.Lock()
        self._preparing = threading.Event()  # set while `prepare` runs: the example's own request waits for it
        self._settled = threading.Event()  # set when a preparation finished (or failed)
        self._final = threading.Event()  # set when the example with its UMAP projection is published (or gave up)

    # ---------------------------------------------------------------- files

    def _file(self, clip_revision: str | None, clap_revision: str | None) -> Path | None:
        if clip_revision is None or clap_revision is None:
            return None  # a Hub checkpoint not downloaded yet: only loading it can name its revision
        settings = self.models.settings
        key = json.dumps(
            [
                PREPARED_FORMAT,
                settings.clip,
                clip_revision,
                settings.clap,
                clap_revision,
                settings.device,
                settings.precision,
                self._inputs,
            ]
        )
        return self.models.root / "prepared" / f"example-{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"

    def load(self) -> bool:
        """Read the prepared example for the configured checkpoints from disk, if there is one (no torch)."""
        tiny_root = self.models.root / "models"
        settings = self.models.settings
        path = self._file(
            known_revision("clip", settings.clip, tiny_root=tiny_root),
            known_revision("clap", settings.clap, tiny_root=tiny_root),
        )
        if path is None or not path.is_file():
            return False
        try:
            comparison, extra = load_comparison(path)
        except ValueError as exc:  # damaged, or an example file moved: prepare it again once the models are up
            print(f"Prepared example not used: {exc}", file=sys.stderr, flush=True)
            return False
        with self._lock:
            self._prepared = Prepared(comparison, extra["result"])
        return True

    def prepare(self, encoders: Encoders) -> Prepared:
        """Compare the example with the loaded models (cheap when its embeddings are cached), project it, save it."""
        self._settled.clear()
        self._preparing.set()
        try:
            return self._prepare(encoders)
        finally:
            self._preparing.clear()
            self._settled.set()
            self._final.set()

    def prepare_in_background(self) -> None:
        """Once the models are loaded, prepare (or check) the example on a daemon thread; from now until then, the
        example's own requests wait for it rather than compute it a second time."""
        self._settled.clear()
        self._preparing.set()

        def run() -> None:
            try:
                self._prepare(self.models.get())
            except Exception as exc:  # the page still works: the example's request then computes it itself
                print(f"The bundled example could not be prepared: {exc}", file=sys.stderr, flush=True)
            finally:
                self._preparing.clear()
                self._settled.set()
                self._final.set()

        threading.Thread(target=run, name="prepare-example", daemon=True).start()

    def _prepare(self, encoders: Encoders) -> Prepared:
        from alignment.analysis.compare import compare  # torch: the models are loaded by now
        from ui.compare.views import projection_panels  # UMAP: compiling it here keeps it off a visitor's path

        comparison = compare(
            encoders, self.texts, self.images, self.audio, cache=self.models.cache, limits=self.models.settings.limits
        ).without_media()
        result = comparison.to_json()
        path = self._file(encoders.clip.revision, encoders.clap.revision)
        if self._prepared is None:  # nothing to show yet (a first start): PCA now, so no one waits for UMAP to compile
            self._final.clear()
            self._publish(
                Prepared(comparison, {**result, "projection": projection_panels(comparison, fast=True)}), path
            )
        prepared = Prepared(comparison, {**result, "projection": projection_panels(comparison, fast=False)})
        self._publish(prepared, path)
        self._final.set()
        return prepared

    def _publish(self, prepared: Prepared, path: Path | None) -> None:
        """Show `prepared` from now on (the example's waiting requests take it) and save it for the next start."""
        with self._lock:
            self._prepared = prepared
        self._settled.set()
        if path is not None:
            try:
                save_comparison(path, prepared.comparison, extra={"result": prepared.result})
            except OSError as exc:  # a read-only cache costs the next start its head start, not this result
                print(f"Prepared example not saved ({path}): {exc}", file=sys.stderr, flush=True)

    # ---------------------------------------------------------------- requests

    def lookup(
        self,
        texts: Sequence[str],
        images: Sequence[str],
        audio: Sequence[str],
        *,
        wait: Callable[[], None] | None = None,
    ) -> Prepared | None:
        """The prepared comparison when these inputs are exactly the example's (by content), else None. While the
        example is being prepared (the first start), its own request waits for that instead of computing it twice;
        `wait()` is called once before waiting (e.g. to show progress)."""
        if list(texts) != self.texts or len(images) != len(self.images) or len(audio) != len(self.audio):
            return None
        try:
            if input_key(texts, images, audio) != self._inputs:
                return None
        except OSError:  # an upload that went away: the normal path reports it
            return None
        if self._prepared is None and self._preparing.is_set():
            if wait is not None:
                wait()
            self._settled.wait()
        return self._prepared

    def refined(self, prepared: Prepared) -> Prepared | None:
        """When `prepared` is the quick (PCA) stage of a preparation still running, wait for its UMAP stage."""
        if self._final.is_set() or {p["method"] for p in prepared.result["projection"].values()} != {"pca"}:
            return None
        self._final.wait()
        later = self._prepared
        return later if later is not None and later is not prepared else None
