"""A dataset's items as a session keeps them: texts as text, images and sounds as file paths decoded again when a
view shows one (a small cache per size), never the whole dataset decoded in memory."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Literal

from alignment.core.errors import InputError
from alignment.inputs.items import Item
from alignment.inputs.limits import Limits

log = logging.getLogger("alignment.app")
Size = Literal["thumb", "full"]
THUMB_SIDE = 256  # px: what thumbnails (96-160 px) and hover cards need; JPEGs then decode at 1/4-1/8 scale
KEEP = 24  # decoded items kept per size (a grid block asks for the same few files many times)


class MediaLookup:
    """(modality, id) -> Item. Texts are kept whole; an image or sound is kept as its path and decoded on demand
    (`thumb`: images at most THUMB_SIDE px; `full`: what the encoders saw, for the error's detail and Explain).
    An item whose file cannot be read any more gives None (its preview then says there is no content)."""

    def __init__(self, items: Mapping[tuple[str, str], Item], *, limits: Limits = Limits()) -> None:
        self._items: dict[tuple[str, str], Item] = {}
        for key, item in items.items():
            if item.modality == "text":
                self._items[key] = item
            elif item.path is not None:
                self._items[key] = replace(item, payload=None)  # the decoded image or waveform is let go here
        self._limits = {"full": limits, "thumb": replace(limits, max_image_side=THUMB_SIDE)}
        self._decoded: dict[str, OrderedDict[tuple[str, str], Item]] = {"full": OrderedDict(), "thumb": OrderedDict()}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[tuple[str, str]]:
        """(modality, id) of every item kept."""
        return list(self._items)

    def __call__(self, modality: str, item_id: str) -> Item | None:
        """The item with content, small enough for a thumbnail or a hover card (the widgets' ItemLookup)."""
        return self.get(modality, item_id, size="thumb")

    def ref(self, modality: str, item_id: str) -> Item | None:
        """The item as kept: a text with its text, a medium with its path and no payload."""
        return self._items.get((modality, item_id))

    def text(self, item_id: str) -> str | None:
        item = self._items.get(("text", item_id))
        return None if item is None else str(item.payload)

    def get(self, modality: str, item_id: str, *, size: Size = "full") -> Item | None:
        key = (modality, item_id)
        item = self._items.get(key)
        if item is None or item.modality == "text":
            return item
        cache = self._decoded[size]
        with self._lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        decoded = self._decode(item, size)
        if decoded is not None:
            with self._lock:
                cache[key] = decoded
                while len(cache) > KEEP:
                    cache.popitem(last=False)
        return decoded

    def _decode(self, item: Item, size: Size) -> Item | None:
        from alignment.inputs.audio import read_audio  # soundfile; decoding only happens when a view asks
        from alignment.inputs.image import read_image

        limits = self._limits[size]
        try:
            data = Path(str(item.path)).read_bytes()
            if item.modality == "image":
                payload: object = read_image(data, source=item.source, limits=limits)
            else:
                payload = read_audio(data, source=item.source, max_seconds=limits.max_audio_seconds)
        except (OSError, InputError) as exc:  # the file went away (a session's zip folder was cleaned up), or broke
            log.info("No preview of %s: %s", item.source, exc)
            return None
        return replace(item, payload=payload)  # type: ignore[arg-type]

    def nbytes(self) -> int:
        """About what this lookup holds in memory: the texts, the kept paths and the decoded cache."""
        held = sum(
            len(str(i.payload or "")) + len(i.path or "") + len(i.id) + len(i.source) for i in self._items.values()
        )
        with self._lock:
            for cache in self._decoded.values():
                for item in cache.values():
                    payload = item.payload
                    if hasattr(payload, "samples"):
                        held += int(payload.samples.nbytes)  # type: ignore[union-attr]
                    elif hasattr(payload, "size"):
                        width, height = payload.size  # type: ignore[union-attr]
                        held += width * height * 3
        return held
