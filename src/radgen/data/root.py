"""Where data lives: the data root and the preprocessed-cache folder.

Data root, first that applies: an explicit ``data_dir`` (``--data-dir``), the
``RADGEN_DATA_DIR`` variable, ``../shared/data`` (from the working directory, then from
the source checkout) when it exists, else ``~/.cache/radgen``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA_DIR = "RADGEN_DATA_DIR"
ENV_CACHE_DIR = "RADGEN_CACHE_DIR"
_CHECKOUT = Path(__file__).resolve().parents[3]  # src/radgen/data/root.py -> checkout root


def default_home() -> Path:
    """radgen's cache folder: $XDG_CACHE_HOME/radgen, else ~/.cache/radgen."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "radgen"


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The data root: ``data_dir``, else $RADGEN_DATA_DIR, else ../shared/data (from the working directory or the
    checkout), else the cache folder."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    for candidate in (Path.cwd() / ".." / "shared" / "data", _CHECKOUT / ".." / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return default_home()


def cache_dir(root: Path) -> Path:
    """``RADGEN_CACHE_DIR``, else ``<data root>/.radgen_cache`` when writable, else
    ``~/.cache/radgen/preprocessed``.
    """
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    beside = root / ".radgen_cache"
    if beside.is_dir() and os.access(beside, os.W_OK):
        return beside
    if root.is_dir() and os.access(root, os.W_OK):
        return beside
    return default_home() / "preprocessed"
