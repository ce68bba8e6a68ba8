"""The app's models as the tabs see them: loaded on a background thread once the page is served, waited for (with
a progress bar) by the handlers that need them, and one clear message when they cannot be loaded."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from alignment.core.deployment import cache_max_bytes
from alignment.core.errors import ModelUnavailableError
from alignment.models.cache import EmbeddingCache
from alignment.models.loader import BackgroundLoad
from alignment.models.settings import Settings, default_cache_dir
from ui.hosting import HostSettings, JobGate
from ui.visitors import Visitor
from ui.widgets.errors import refuse

if TYPE_CHECKING:  # torch and transformers load on the background thread, never on the import path
    from alignment.models.encoders import Encoders


class AppModels:
    """Settings, caches and the encoders of one server process, shared by every tab and every visitor."""

    def __init__(
        self, settings: Settings, *, encoders: Encoders | None = None, hosting: HostSettings | None = None
    ) -> None:
        self.settings = settings
        self.hosting = hosting or HostSettings.from_env()
        self.gate = JobGate(self.hosting)  # every model job of every visitor goes through it
        self.root = Path(settings.cache_dir or default_cache_dir())
        self.cache = EmbeddingCache(self.root / "embeddings", max_bytes=cache_max_bytes())  # the shared namespace
        self._load: BackgroundLoad[Encoders] = (
            BackgroundLoad.ready(encoders) if encoders is not None else BackgroundLoad(self._load_encoders)
        )

    def _load_encoders(self) -> Encoders:
        from alignment.models.factory import load_encoders  # imports torch and transformers: seconds

        try:
            return load_encoders(self.settings)
        except Exception as exc:  # the terminal hears it once; every waiting handler shows it
            print(f"The models could not be loaded: {exc}", file=sys.stderr, flush=True)
            raise

    def start(self) -> AppModels:
        """Start loading in the background (idempotent)."""
        self._load.start()
        return self

    @property
    def ready(self) -> bool:
        return self._load.state == "ready"

    def get(self, progress: gr.Progress | None = None) -> Encoders:
        """The encoders, waiting for the background load if it is still running; gr.Error if it failed."""

        def tick(elapsed: float) -> None:
            if progress is not None:
                progress((round(elapsed), None), desc="Loading the models", unit="s")

        try:
            return self._load.wait(tick=tick)
        except ModelUnavailableError as exc:
            raise refuse(str(exc), title="Models unavailable") from None
        except Exception as exc:
            raise refuse(f"The models could not be loaded: {exc}", title="Models unavailable") from None

    def settle(self, progress: gr.Progress | None = None) -> None:
        """Wait until the background load has finished, well or not, without needing its result. A handler that
        imports torch or transformers calls this (or `get`) first: importing them on two threads at once breaks
        transformers' lazy module ("cannot import name ...")."""
        try:
            self.get(progress)
        except gr.Error:
            pass  # the handler does not need the models; the page says why they failed

    def cache_for(self, visitor: Visitor) -> EmbeddingCache:
        """The cache a visitor reads and writes: their own namespace over the shared one on a public server (no
        other visitor's entry is ever read, so no hit or timing tells what others sent), the shared one locally."""
        return self.cache.for_visitor(visitor.owner, public=self.hosting.public)

    def encoders_now(self) -> Encoders | None:
        """The encoders if they are loaded, without waiting."""
        return self._load.wait() if self.ready else None

    def describe(self) -> dict:
        """The models' ids (from the settings until they are loaded, then from the encoders), and the load state."""
        encoders = self.encoders_now()
        info = encoders.describe() if encoders is not None else {"clip": self.settings.clip, "clap": self.settings.clap}
        return {
            **info,
            "loaded": encoders is not None,
            "preset": self.settings.preset,
            "random_weights": self.settings.random_weights,
        }

    def status_markdown(self) -> str:
        """One line under the header: loading (with seconds), loaded (device and precision), or why it failed."""
        state = self._load.state
        if state == "ready":
            info = self.describe()
            return f"Models ready on **{info['device']}**, precision {info.get('precision', info['dtype'])}."
        if state == "failed":
            return f"⚠️ **The models could not be loaded.** {self._load.error}"
        return (
            f"⏳ Loading the models ({self._load.elapsed:.0f} s)… The bundled example below was prepared earlier; "
            "anything new waits for the models."
        )
