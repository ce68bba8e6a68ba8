"""Shared fixtures: tiny random encoders loaded through the real factory, and the real files in ../shared/data."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from alignment.models.encoders import Encoders
from alignment.models.factory import load_encoders
from alignment.models.settings import Settings, settings_for

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not found at {path} (the ../shared/data checkout beside the repo)")
    return path


@pytest.fixture(scope="session")
def tiny_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return settings_for("tiny", cache_dir=str(tmp_path_factory.mktemp("align-cache")), device="cpu")


@pytest.fixture(scope="session")
def encoders(tiny_settings: Settings) -> Encoders:
    return load_encoders(tiny_settings)


@pytest.fixture(scope="session")
def photos() -> list[Path]:
    return sorted(shared_path("photos").iterdir())


@pytest.fixture(scope="session")
def clips() -> list[Path]:
    return sorted(shared_path("clotho_subset", "audio").glob("*.wav"))


# ---------------------------------------------------------------------------- the app, served


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tiny_settings: Settings, encoders: Encoders) -> Iterator[str]:
    """The demo (tiny preset), launched once without blocking on a free local port; closed at the end."""
    import app  # imported here: tests that don't serve the app don't pay for gradio
    from alignment.views.projection import warm_up_umap

    warm_up_umap()  # as app.main does: numba compiles in the background while the server starts
    demo = app.build_demo(tiny_settings, encoders)
    demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **app.launch_options()
    )
    assert demo.local_url, "the demo did not start"
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture
def client(server: str) -> Client:  # noqa: F821 (imported lazily)
    """A fresh client, so a fresh server-side session (gr.State starts empty).

    download_files=False: outputs come back as the server's file records, not downloads; the
    numbers are what is tested here, and it keeps the client off files the server may rewrite.
    """
    from gradio_client import Client

    return Client(server, verbose=False, download_files=False)
