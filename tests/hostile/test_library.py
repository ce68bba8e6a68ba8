"""Every case of the hostile corpus through the library: a clear message naming the upload (never a temp folder),
or a correct result; and the rest of the request still loads."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from alignment.core.errors import InputError
from alignment.inputs.dataset import load_dataset, load_items
from alignment.inputs.embeddings import load_embeddings
from alignment.inputs.files import load_files
from alignment.inputs.items import Named
from alignment.inputs.limits import Limits
from alignment.inputs.text import load_text_file, load_texts
from alignment.space.bridge import load_bridge
from alignment.space.fusion import load_fusion

from .corpus import CASES, Case
from .files import png, sound, tone, write

GOOD_TEXT = "a good text"


def _named(message: str, case: Case, folder: Path) -> None:
    """The message begins with the upload's name, then the problem; it names no folder of this machine."""
    assert message.startswith((case.upload, _shown_name(case))), message
    assert re.search(case.reason, message), (case.reason, message)
    assert str(folder) not in message and "alignment-zip-" not in message, message
    message.encode("utf-8")  # printable: no lone surrogate escaped into it


def _shown_name(case: Case) -> str:
    from alignment.core.names import shown

    return shown(case.upload)


def _good_file(folder: Path, modality: str) -> Path:
    if modality == "image":
        return write(folder / "good" / "good.png", png((40, 30), (10, 200, 10)))
    return write(folder / "good" / "good.wav", sound(tone(0.5)))


def _run_media(case: Case, path: Path, folder: Path, limits: Limits) -> None:
    loaded = load_files([_good_file(folder, case.surface), Named(path, case.upload)], case.surface, limits=limits)  # type: ignore[arg-type]
    assert loaded.items[0].id.startswith("good.")  # the good file always loads
    if case.expect == "refused":
        assert len(loaded.items) == 1 and len(loaded.problems) == 1, loaded.problems
        _named(loaded.problems[0], case, folder)
        assert loaded.problems[0].startswith(_shown_name(case) + ": ")
    else:
        assert loaded.problems == [] and len(loaded.items) == 2
        assert loaded.items[1].id == _shown_name(case)
        if case.check:
            case.check(loaded.items[1])


def _run_text(case: Case, text: str, folder: Path, limits: Limits) -> None:
    loaded = load_texts([GOOD_TEXT, text], limits=limits)
    assert loaded.items[0].payload == GOOD_TEXT
    if case.expect == "refused":
        assert len(loaded.items) == 1 and len(loaded.problems) == 1
        _named(loaded.problems[0], case, folder)
    else:
        assert loaded.problems == [] and len(loaded.items) == 2
        assert len(loaded.items[1].sha256) == 64  # hashed without error
        if case.check:
            case.check(loaded.items[1])


def _run_text_file(case: Case, path: Path, folder: Path, limits: Limits) -> None:
    if case.expect == "refused":
        with pytest.raises(InputError) as error:
            load_text_file(Named(path, case.upload), limits=limits)
        _named(str(error.value), case, folder)
        return
    loaded = load_text_file(Named(path, case.upload), limits=limits)
    texts = [i.payload for i in loaded.items]
    assert "a cat" in texts and "a dog" in texts  # the lines around the bad one
    if case.expect == "partial":
        assert any(re.search(case.reason, p) for p in loaded.problems), loaded.problems
        for problem in loaded.problems:
            assert problem.startswith(case.upload + " line "), problem
    else:
        assert loaded.problems == []
    if case.check:
        case.check(loaded)


def _run_dataset(case: Case, path: Path, folder: Path, limits: Limits) -> None:
    if case.expect == "refused":
        with pytest.raises(InputError) as error:
            dataset = load_dataset(path, name=case.upload, limits=limits.dataset)
            load_items(dataset, limits)
        _named(str(error.value), case, folder)
        return
    dataset = load_dataset(path, name=case.upload, limits=limits.dataset)
    try:
        loaded = load_items(dataset, limits)
    finally:
        dataset.cleanup()
    problems = [*dataset.problems, *loaded.problems]
    assert loaded.items, problems  # the good rows still load
    for problem in problems:
        assert problem.startswith(case.upload), problem
        assert str(folder) not in problem and "alignment-zip-" not in problem, problem
    if case.expect == "partial":
        matching = [p for p in problems if re.search(case.reason, p)]
        assert matching, (case.reason, problems)
    else:
        assert problems == []
    if case.check:
        case.check(loaded)


def _run_embeddings(case: Case, path: Path, folder: Path, limits: Limits) -> None:
    if case.expect == "refused":
        with pytest.raises(InputError) as error:
            load_embeddings(path, name=case.upload, limits=limits.embeddings)
        _named(str(error.value), case, folder)
        return
    embedded = load_embeddings(path, name=case.upload, limits=limits.embeddings)
    assert np.allclose(np.linalg.norm(embedded.embeddings, axis=1), 1.0, atol=1e-5)
    if case.expect == "partial":
        assert embedded.problems and all(p.startswith(case.upload + ": ") for p in embedded.problems)
        assert any(re.search(case.reason, p) for p in embedded.problems), embedded.problems
    else:
        assert embedded.problems == ()
    if case.check:
        case.check(embedded)


def _run_checkpoint(case: Case, path: Path, folder: Path) -> None:
    load = load_bridge if case.surface == "bridge" else load_fusion
    if case.expect == "refused":
        with pytest.raises(InputError) as error:
            load(path, name=case.upload)
        _named(str(error.value), case, folder)
        return
    model = load(path, name=case.upload)
    rng = np.random.default_rng(0)
    if case.surface == "bridge":
        out = model.apply(rng.normal(size=(3, model.source_dim)).astype(np.float32))  # type: ignore[union-attr]
    else:
        views = [rng.normal(size=(3, model.dim)).astype(np.float32) for _ in range(model.n_modalities)]  # type: ignore[union-attr]
        out = model.apply(views)[0]  # type: ignore[union-attr]
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_through_the_library(case: Case, tmp_path: Path) -> None:
    folder = tmp_path / "upload"
    built = case.build(folder)
    limits = case.limits or Limits()
    if case.surface in ("image", "audio"):
        _run_media(case, built, folder, limits)  # type: ignore[arg-type]
    elif case.surface == "text":
        _run_text(case, built, folder, limits)  # type: ignore[arg-type]
    elif case.surface == "text_file":
        _run_text_file(case, built, folder, limits)  # type: ignore[arg-type]
    elif case.surface == "dataset":
        _run_dataset(case, built, folder, limits)  # type: ignore[arg-type]
    elif case.surface == "embeddings":
        _run_embeddings(case, built, folder, limits)  # type: ignore[arg-type]
    else:
        _run_checkpoint(case, built, folder)  # type: ignore[arg-type]


def test_the_corpus_is_large_and_covers_every_surface() -> None:
    assert len(CASES) >= 60
    surfaces = {c.surface for c in CASES}
    assert surfaces == {"image", "audio", "text", "text_file", "dataset", "embeddings", "bridge", "fusion"}
    assert {c.expect for c in CASES} == {"refused", "partial", "ok"}
