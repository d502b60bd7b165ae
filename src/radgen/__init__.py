"""radgen: generative models of medical images, and whether their samples help a real task.

The Python API mirrors the CLI (``radgen.api``): ``radgen.load_dataset``, ``radgen.train``, ``radgen.load``,
``radgen.evaluate``, ``radgen.augment``, ``radgen.classify``, ``radgen.release``. They are imported on first use
(PEP 562), so ``import radgen`` and ``radgen --version`` load no torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

from radgen.errors import BadFileError, ConfigError, DataError, MissingDataError, RadgenError

__all__ = [
    "__version__",
    "RadgenError",
    "ConfigError",
    "DataError",
    "BadFileError",
    "MissingDataError",
]

_API = {
    "load_dataset": "radgen.data",
    "train": "radgen.api",
    "load": "radgen.api",
    "evaluate": "radgen.api",
    "augment": "radgen.api",
    "classify": "radgen.api",
    "release": "radgen.api",
}
__all__ += list(_API)


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'radgen' has no attribute {name!r}")
