"""The hostile-input corpus through the running app: every media, text and text-file case of `tests/hostile` sent to
/compare beside good inputs, as a stranger's browser would send it. Each refused input is named, alone, in the
answer's `problems` (by its upload name, never a server path); everything else in the request is compared; and the
server answers the next visitor normally.

All cases of a surface go in one request: many bad uploads at once must not break it either. Cases with lowered
limits are library-only (the app runs at its configured limits)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from hostile.corpus import CASES, Case
from hostile.files import png, sound, tone, write
from test_app import OUTPUTS, assert_server_still_works

GOOD_TEXT = "a good text"


def _cases(surface: str) -> list[Case]:
    return [c for c in CASES if c.surface == surface and c.limits is None]


def _compare(client: Client, text: str, text_file: Path | None, images: list[Path], audio: list[Path]) -> dict:
    job = client.submit(
        text,
        handle_file(str(text_file)) if text_file else None,
        [handle_file(str(p)) for p in images],
        [handle_file(str(p)) for p in audio],
        "cosine",
        api_name="/compare",
    )
    job.result(timeout=300)  # raises the app's error, if any
    return dict(zip(OUTPUTS, job.outputs()[-1], strict=True))["numbers"]


def _names(message: str, case: Case, tmp_path: Path) -> None:
    """The message begins with the case's upload name, says its problem, and names no folder of this machine."""
    from alignment.core.names import shown

    assert message.startswith((case.upload + ":", shown(case.upload) + ":")), (case.name, message)
    assert re.search(case.reason, message), (case.name, case.reason, message)
    assert str(tmp_path) not in message and "/tmp/gradio" not in message and "alignment-zip-" not in message, message


@pytest.mark.parametrize("surface", ["image", "audio"])
def test_every_hostile_media_file_is_named_and_the_rest_compared(client: Client, tmp_path: Path, surface: str) -> None:
    cases = _cases(surface)
    paths = [Path(case.build(tmp_path / case.name)) for case in cases]
    good = (
        write(tmp_path / "good" / "good.png", png((40, 30), (10, 200, 10)))
        if surface == "image"
        else write(tmp_path / "good" / "good.wav", sound(tone(0.5)))
    )
    files = [good, *paths]
    images, audio = (files, []) if surface == "image" else ([], files)
    numbers = _compare(client, GOOD_TEXT, None, images, audio)

    ids = numbers["ids"][surface]
    assert ids[0] == good.name  # the good file is always compared
    refused = [c for c in cases if c.expect == "refused"]
    assert len(numbers["problems"]) == len(refused), numbers["problems"]  # nothing accepted is reported
    for case, message in zip(refused, numbers["problems"], strict=True):  # problems come in upload order
        _names(message, case, tmp_path)
    assert len(ids) == 1 + len(cases) - len(refused)  # every accepted file is compared
    assert len(numbers[f"text_{surface}"]["cosine"][0]) == len(ids)
    assert_server_still_works(client)


def test_hostile_texts_are_named_and_the_rest_compared(client: Client, tmp_path: Path) -> None:
    """Texts arrive one per line: each case is a line between good ones. A text that is not valid Unicode (a lone
    surrogate) cannot travel in an HTTP request at all (a browser sends U+FFFD instead): library-only."""
    cases = [c for c in _cases("text") if _encodable(str(c.build(tmp_path)))]
    lines = [GOOD_TEXT, *(str(case.build(tmp_path)) for case in cases)]
    numbers = _compare(client, "\n".join(lines), None, [], [])

    texts = numbers["ids"]["text"]
    assert texts[0] == GOOD_TEXT
    refused = [c for c in cases if c.expect == "refused"]
    for case in refused:
        message = [p for p in numbers["problems"] if re.search(case.reason, p)]
        assert len(message) == 1, (case.name, numbers["problems"])
    assert len(numbers["problems"]) == len(refused), numbers["problems"]
    kept = [str(c.build(tmp_path)).strip() for c in cases if c.expect == "ok"]
    assert texts[1:] == kept, texts  # accepted texts come back exactly as sent
    assert_server_still_works(client)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("case", _cases("text_file"), ids=lambda c: c.name)
def test_a_hostile_text_file_is_named_and_the_rest_compared(client: Client, tmp_path: Path, case: Case) -> None:
    """A bad text file (or bad lines in it) is a problem of that file; the typed text and the images still run."""
    path = Path(case.build(tmp_path))
    cat = write(tmp_path / "good" / "cat.png", png((40, 30), (200, 120, 10)))
    numbers = _compare(client, GOOD_TEXT, path, [cat], [])

    assert numbers["ids"]["text"][0] == GOOD_TEXT and numbers["ids"]["image"] == ["cat.png"]
    if case.expect == "ok":
        assert numbers["problems"] == [] and len(numbers["ids"]["text"]) > 1
    else:
        assert numbers["problems"], case.name
        for problem in numbers["problems"]:
            assert problem.startswith(case.upload), problem
            assert str(tmp_path) not in problem and "/tmp/gradio" not in problem, problem
        assert any(re.search(case.reason, p) for p in numbers["problems"]), (case.reason, numbers["problems"])
    assert_server_still_works(client)
