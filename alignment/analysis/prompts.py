"""Zero-shot prompts: the default templates per modality and the class-major prompt list built from them."""

from __future__ import annotations

from collections.abc import Sequence

TEMPLATES: dict[str, tuple[str, ...]] = {  # editable defaults; "{}" is replaced by the class name
    "image": ("a photo of a {}.",),
    "audio": ("the sound of a {}.",),
}


def build_prompts(classes: Sequence[str], templates: Sequence[str]) -> list[str]:
    """Class-major prompts: for each class, each template with "{}" replaced by the class name (C * T strings)."""
    if not classes or not templates:
        raise ValueError(f"need at least one class and one template (got {len(classes)} and {len(templates)})")
    missing = [t for t in templates if "{}" not in t]
    if missing:
        raise ValueError(f"every template needs a '{{}}' where the class name goes (got {missing})")
    return [template.replace("{}", name) for name in classes for template in templates]
