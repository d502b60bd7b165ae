"""Shared fixtures. Real data comes from ../shared/data (or $RADGEN_DATA_DIR); it is never copied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    env = os.environ.get("RADGEN_DATA_DIR")
    p = Path(env) if env else REPO.parent / "shared" / "data"
    if not (p / "MANIFEST.md").is_file():
        raise RuntimeError(f"real data kit not found at {p}; set RADGEN_DATA_DIR to the folder holding MANIFEST.md")
    return p


DATA = _shared_data()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Each test session gets its own preprocessed cache, so results never depend on ~/.cache."""
    old = os.environ.get("RADGEN_CACHE_DIR")
    os.environ["RADGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("radgen_cache"))
    os.environ["RADGEN_DATA_DIR"] = str(DATA)
    yield
    if old is None:
        os.environ.pop("RADGEN_CACHE_DIR", None)
    else:
        os.environ["RADGEN_CACHE_DIR"] = old
