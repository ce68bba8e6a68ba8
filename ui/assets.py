"""The bundled examples: assets/examples.json with absolute paths, and where the assets live."""

from __future__ import annotations

import json
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def bundled_examples() -> list[dict]:
    """The example sets in assets/examples.json with absolute paths."""
    sets = json.loads((ASSETS / "examples.json").read_text())
    for example in sets:
        example["images"] = [str(ASSETS / p) for p in example.get("images", [])]
        example["audio"] = [str(ASSETS / p) for p in example.get("audio", [])]
    return sets
