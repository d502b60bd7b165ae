"""Split manifests: the sorted ids of the real items a run trained on, and their sha256.

Every training run writes ``split_manifest.json`` into its folder (``write_manifest``); a synthetic
release (``radgen release``) records the manifest's sha256, so a recipient can check which real images
a generator learned from without receiving them. An item's id is its source file relative to the
dataset (``file`` metadata, e.g. ``train/NORMAL/IM-0115-0001.jpeg``), else its ``path`` metadata
(``pneumoniamnist.npz:train#17`` for array sources).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from radgen.data.base import ImageSet


def split_manifest(images: ImageSet) -> list[str]:
    """Sorted item ids of ``images``."""
    files = images.meta.get("file")
    ids = [str(f) for f in files] if files is not None else images.paths
    return sorted(ids)


def manifest_sha256(ids: list[str]) -> str:
    """sha256 of the ids, one per line, each ending in a newline (UTF-8)."""
    return hashlib.sha256("".join(f"{i}\n" for i in ids).encode()).hexdigest()


def write_manifest(path: str | Path, images: ImageSet, *, split: str = "train") -> str:
    """Write the manifest ({split, n, sha256, ids}) to ``path`` atomically (a run's is
    ``radgen.runfolder.SPLIT_MANIFEST``); return the sha256."""
    from radgen.io import write_json

    ids = split_manifest(images)
    digest = manifest_sha256(ids)
    write_json(Path(path), {"split": split, "n": len(ids), "sha256": digest, "ids": ids})
    return digest


def read_manifest(path: str | Path) -> list[str] | None:
    """The ids recorded in the manifest at ``path``, or None when there is none (older runs)."""
    path = Path(path)
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ids = data.get("ids") if isinstance(data, dict) else None
    return [str(i) for i in ids] if isinstance(ids, list) else None
