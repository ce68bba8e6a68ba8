"""The page before the models: no torch on the import and build path, and the bundled example served from what an
earlier start prepared while the models are still loading (or when they cannot load at all)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from conftest import ROOT
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from alignment.core.errors import ModelUnavailableError
from alignment.models.encoders import Encoders
from alignment.models.settings import Settings
from ui.assets import bundled_examples
from ui.compare.example import PreparedExample, input_key
from ui.models import AppModels

EXAMPLE = bundled_examples()[0]


def test_importing_and_building_the_app_imports_no_torch(tiny_settings: Settings) -> None:
    code = (
        "import sys, app\n"
        "from alignment.models.settings import settings_for\n"
        f"app.build_demo(settings_for('tiny', cache_dir={tiny_settings.cache_dir!r}), background=False)\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'umap', 'numba', 'scipy.stats') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_prepared_example_reads_back_and_matches_only_its_own_inputs(
    tiny_settings: Settings, encoders: Encoders, tmp_path
) -> None:
    prepared = PreparedExample(AppModels(tiny_settings, encoders=encoders), EXAMPLE).prepare(encoders)
    fresh = PreparedExample(AppModels(tiny_settings), EXAMPLE)  # no encoders: as a new process before the load
    assert fresh.load()
    found = fresh.lookup(EXAMPLE["texts"], EXAMPLE["images"], EXAMPLE["audio"])
    assert found is not None and found.result == prepared.result
    assert {p["method"] for p in found.result["projection"].values()} == {"umap"}

    copy = tmp_path / "copy.jpg"  # the same content under another name (as gradio's upload cache does) still matches
    copy.write_bytes(open(EXAMPLE["images"][0], "rb").read())
    assert fresh.lookup(EXAMPLE["texts"], [str(copy), *EXAMPLE["images"][1:]], EXAMPLE["audio"]) is not None
    assert fresh.lookup(EXAMPLE["texts"][:-1], EXAMPLE["images"], EXAMPLE["audio"]) is None
    copy.write_bytes(copy.read_bytes() + b"\0")  # other content
    assert fresh.lookup(EXAMPLE["texts"], [str(copy), *EXAMPLE["images"][1:]], EXAMPLE["audio"]) is None
    assert input_key(["a"], [], []) != input_key(["b"], [], [])


def test_another_checkpoint_never_reads_that_prepared_example(tiny_settings: Settings, encoders: Encoders) -> None:
    PreparedExample(AppModels(tiny_settings, encoders=encoders), EXAMPLE).prepare(encoders)
    other = replace(tiny_settings, clip="/nonexistent/clip-checkpoint")
    assert not PreparedExample(AppModels(other), EXAMPLE).load()


@pytest.fixture
def models_that_fail(tiny_settings: Settings, encoders: Encoders, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A served app whose model load fails, with the bundled example prepared by an earlier start."""
    import app

    PreparedExample(AppModels(tiny_settings, encoders=encoders), EXAMPLE).prepare(encoders)

    def fail(self: AppModels) -> Encoders:
        raise ModelUnavailableError("CLIP (image-text)", "openai/clip", "--clip", "ALIGN_CLIP", "offline")

    monkeypatch.setattr(AppModels, "_load_encoders", fail)
    from browser import served

    with served(app.build_demo(tiny_settings), app.launch_options()) as address:
        yield address


def test_the_example_is_served_without_models_and_new_work_says_why_it_cannot_run(models_that_fail: str) -> None:
    client = Client(models_that_fail, verbose=False, download_files=False)
    args = ("\n".join(EXAMPLE["texts"]), None)
    files = ([handle_file(p) for p in EXAMPLE["images"]], [handle_file(p) for p in EXAMPLE["audio"]])
    outputs = client.predict(*args, *files, "cosine", api_name="/compare")
    numbers = outputs[-1]
    assert numbers["ids"]["image"] == [p.split("/")[-1] for p in EXAMPLE["images"]]
    assert np.asarray(numbers["text_image"]["cosine"]).shape == (len(EXAMPLE["texts"]), len(EXAMPLE["images"]))
    with pytest.raises(AppError, match="Cannot load the CLIP"):
        client.predict("something new", None, [], [], "cosine", api_name="/compare")


def test_a_taken_port_is_an_error_that_names_it(tiny_settings: Settings) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**__import__("os").environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
        env["ALIGN_CACHE"] = str(tiny_settings.cache_dir)
        out = subprocess.run(
            [sys.executable, "app.py", "--preset", "tiny"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 2
    assert f"Port {port} on 127.0.0.1 is in use" in out.stderr
