"""radgen: generative models of medical images, and whether their samples help a real task.

The public entry points are re-exported here; everything else lives in sub-packages
(`radgen.data`, later `radgen.models`, `radgen.training`, `radgen.metrics`).
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
