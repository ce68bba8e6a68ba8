"""The hubness correction offered in search: the control's names, and each gallery's statistics measured once.

The statistics (`alignment.search.hubness_correction`) depend on the gallery, the target modality, the queries'
modality and the method; they are kept beside the gallery object for as long as it lives (the bundled examples'
galleries for the server's life, a visitor's dataset or upload for their session), so a second search re-ranks
at once.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from ui.widgets.hubness import CHOICES, HELP, METHODS, NONE, method_of

__all__ = ["CHOICES", "HELP", "METHODS", "NONE", "correction_for"]

if TYPE_CHECKING:  # alignment.search imports torch: only for type checking here
    from alignment.search import Gallery, HubnessCorrection

_kept: weakref.WeakKeyDictionary[Gallery, dict[tuple, HubnessCorrection]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def correction_for(name: str, gallery: Gallery, target: str, query_modality: str) -> HubnessCorrection | None:
    """The search-time correction `name` (one of CHOICES) for `target` items of `gallery` under queries of
    `query_modality`; None for plain cosine. ValueError names an unknown correction, or why it cannot be built."""
    method = method_of(name)
    if method == NONE:
        return None
    key = (method, target, query_modality)
    with _lock:
        found = _kept.get(gallery, {}).get(key)
    if found is not None:
        return found
    from alignment.search import hubness_correction

    made = hubness_correction(method, gallery, target, query_modality)  # type: ignore[arg-type]
    with _lock:
        _kept.setdefault(gallery, {})[key] = made
    return made
