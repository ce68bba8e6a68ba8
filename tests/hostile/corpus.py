"""The hostile-input corpus: what a stranger might upload, and what must come back. Reusable: the library and
CLI runs are in this folder, the app-level runs use the same `CASES`.

Each `Case` builds its input under a folder at test time and names the surface it goes to:

* "image" / "audio": one uploaded file (library: `load_files` beside a good file; CLI: `explain`);
* "text": one text, returned by `build` instead of a path (library: `load_texts`; CLI: `explain --text`);
* "text_file": a .txt / .csv of texts (library: `load_text_file`; no CLI command takes one);
* "dataset": a manifest with its media, a folder or a .zip (library: `load_dataset` + `load_items`; CLI: `evaluate`);
* "embeddings": an .npz / .safetensors of precomputed embeddings (library: `load_embeddings`; CLI: `evaluate`);
* "bridge" / "fusion": a checkpoint (library: `load_bridge` / `load_fusion` then apply; CLI: `bridge apply` /
  `fusion apply`).

Outcomes: "refused" (the input as a whole is refused with a message that names `upload` and matches `reason`;
the rest of the request still runs), "partial" (it loads, and each part that cannot be used is reported naming
`upload` and matching `reason`), "ok" (it loads with no problem; `check` verifies the result is right).
`limits` lowers a limit or budget so the case stays small (library runs only: `cli=False`).
"""

from __future__ import annotations

from dataclasses import replace

from .case import Case, Outcome, Surface
from .cases_datasets import DATASETS
from .cases_files import FILES
from .cases_media import MEDIA

__all__ = ["BY_NAME", "CASES", "Case", "Outcome", "Surface", "for_cli"]

CASES: tuple[Case, ...] = MEDIA + DATASETS + FILES
BY_NAME = {case.name: case for case in CASES}
assert len(BY_NAME) == len(CASES), "case names must be unique"


def for_cli(case: Case) -> Case:
    """The case as the CLI sees it: the CLI reads the default limits, so lowered-limit cases are library-only."""
    return replace(case, limits=None)
