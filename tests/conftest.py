"""Shared fixtures: tiny random encoders loaded through the real factory, and the real files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignment.config import Settings, settings_for
from alignment.encoders import Encoders, load_encoders

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
