"""The hubness corrections as the page names them (Search and Errors), and the one-line help beside the control."""

from __future__ import annotations

NONE = "none"
METHODS = {"CSLS": "csls", "inverted softmax": "isf", "QB-Norm": "qbnorm"}  # the control's names -> the library's
CHOICES = (NONE, *METHODS)  # what the control lists, in this order
HELP = (
    "Items close to everything (hubs) crowd many result lists. A correction re-scores the nearest items by how "
    "close each one sits to the other queries: CSLS, inverted softmax or QB-Norm."
)


def method_of(name: str) -> str:
    """The library's name (csls, isf, qbnorm, or none) of a control value; ValueError names an unknown one."""
    if name == NONE:
        return NONE
    if name not in METHODS:
        raise ValueError(f"unknown hubness correction {name!r} (expected one of {', '.join(CHOICES)})")
    return METHODS[name]
