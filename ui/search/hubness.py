"""The hubness correction offered in search, behind one switch: on when alignment.analysis ships the corrections."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # alignment.search imports torch: only for type checking here
    from alignment.search import Correction, Gallery

NONE = "none"
CHOICES = (NONE, "CSLS", "inverted softmax", "QB-Norm")  # what the control lists, in this order
# The corrections `correction_for` can build. Empty until the corrections of issue 14 item 2 land in
# alignment.analysis; list their names here (and build them below) and the Search tab's control enables itself.
AVAILABLE: tuple[str, ...] = ()
NOT_YET = (
    "Hubness correction (CSLS, inverted softmax, QB-Norm) is not available yet: the corrections are being added to "
    "the library. Results use plain cosine similarity."
)


def correction_for(name: str, gallery: Gallery) -> Correction | None:
    """The search-time correction `name` for searches of `gallery` (see `alignment.search.Correction`); None for
    plain cosine. ValueError names a correction that is unknown or not available."""
    if name == NONE:
        return None
    if name not in CHOICES:
        raise ValueError(f"unknown hubness correction {name!r} (expected one of {', '.join(CHOICES)})")
    if name not in AVAILABLE:
        raise ValueError(f"hubness correction {name!r} is not available on this server yet; choose 'none'")
    raise NotImplementedError(f"{name} is listed in AVAILABLE but not built here")  # the switch, half thrown
