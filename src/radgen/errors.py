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


class OutputError(RadgenError):
    """An output cannot be written: full disk, read-only or missing folder, a file where a folder should be."""

    @staticmethod
    def is_disk_full(exc: BaseException) -> bool:
        """True for the ways writers report a full disk: ENOSPC, and torch.save's "unexpected pos" (zip writer)."""
        import errno

        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc)
        return "unexpected pos" in text or "No space left" in text or "file write failed" in text

    @classmethod
    def from_os(cls, exc: BaseException, path: str | Path) -> OutputError:
        """A one-line error for ``exc`` raised while writing ``path``, with the fix."""
        import errno
        import shutil

        path = Path(path)
        code = getattr(exc, "errno", None)
        if cls.is_disk_full(exc):
            where = next((p for p in [path, *path.parents] if p.exists()), Path("."))
            try:
                free = f"{shutil.disk_usage(where).free / 2**20:.1f} MiB free"
            except OSError:
                free = "free space unknown"
            return cls(f"{path}: the disk is full ({free} under {where}); free some space or write elsewhere")
        if code in (errno.EACCES, errno.EPERM, errno.EROFS):
            return cls(f"{path}: cannot write there ({exc.strerror}); choose an output folder you can write to")
        if code == errno.ENOTDIR:
            return cls(f"{path}: a part of this path is a file, not a folder; choose another output path")
        if code == errno.EISDIR:
            return cls(f"{path} is a folder; give a file path")
        return cls(f"{path}: cannot write ({getattr(exc, 'strerror', None) or exc}); choose another output path")


class Terminated(BaseException):
    """The process received SIGTERM (a scheduler's preemption, ``kill``): unwinds like Ctrl-C, so every
    ``finally`` and temporary-folder cleanup runs, and the CLI exits 143 (128 + 15) with one line.

    A ``BaseException``, not an ``Exception``: code that catches errors to retry or skip must not swallow it."""

    signum = 15


class OutputRaceError(RadgenError):
    """Another process made or changed ``--out`` while this command ran; this command's result is kept
    in ``kept`` (a folder beside ``--out``), and nothing of the other process's output was touched."""

    def __init__(self, message: str, kept: str | Path | None = None):
        self.kept = None if kept is None else str(kept)
        super().__init__(message)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` folded onto a single line."""
    text = str(exc) or exc.__class__.__name__
    return " ".join(text.split())
