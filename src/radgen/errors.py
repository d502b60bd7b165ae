"""radgen's documented exception types.

Every error a user can cause (a bad file, a bad option, a missing dataset) is one of
these, carries a one-line message naming the file or value and the fix, and is printed
by the CLI as ``radgen: error: <message>`` with exit status 2, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path


class RadgenError(Exception):
    """Base class of every error radgen raises on purpose."""


class ConfigError(RadgenError, ValueError):
    """An option, config key or name is invalid; the message lists the valid choices."""


class DataError(RadgenError, ValueError):
    """A data source cannot be read as asked (layout, columns, empty folder...)."""


class MissingDataError(DataError, FileNotFoundError):
    """A file or folder that a source needs does not exist; the message says where to put it."""


class BadFileError(DataError):
    """One file is corrupt, truncated or of the wrong kind.

    ``path`` and ``problem`` are kept so that callers that skip bad files can count them.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` folded onto a single line."""
    text = str(exc) or exc.__class__.__name__
    return " ".join(text.split())
