"""Downloading a missing file with an md5 check; offline it fails with where to put the file."""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.request
from pathlib import Path

from radgen.errors import DataError, MissingDataError
from radgen.io import atomic_path

log = logging.getLogger(__name__)


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    """The hex MD5 of a file's bytes (the checksum the published datasets state)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, *, md5: str | None, timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``dest`` atomically and verify ``md5``; raise MissingDataError when offline."""
    log.info("downloading %s -> %s", url, dest)
    try:
        with atomic_path(dest) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                while block := resp.read(1 << 20):
                    out.write(block)
            if md5 is not None:
                got = md5sum(tmp)
                if got != md5:
                    raise DataError(
                        f"{url}: downloaded file has md5 {got}, expected {md5}; not saved (retry, "
                        f"or download it by hand to {dest})"
                    )
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise MissingDataError(
            f"{dest}: missing and could not be downloaded from {url} ({' '.join(str(exc).split())}); "
            f"download it by hand and put it at that path, or pass --data-dir"
        ) from None
    return dest
