"""Split manifests: the sorted ids of the real items a run trained on, their sha256, and their content's sha256.

Every training run writes ``split_manifest.json`` into its folder (``write_manifest``); a synthetic
release (``radgen release``) records the manifest's sha256, so a recipient can check which real images
a generator learned from without receiving them. An item's id is its source file relative to the
dataset (``file`` metadata, e.g. ``train/NORMAL/IM-0115-0001.jpeg``), else its ``path`` metadata
(``pneumoniamnist.npz:train#17`` for array sources).

The manifest also holds ``content_sha256``: the training split's labels and stored pixels, hashed in order. Ids
alone miss a file rewritten in place (every image inverted, every label flipped), so ``check_unchanged`` compares
both when a run is resumed or released, and refuses a change unless the user says ``--allow-changed-data``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from radgen.data.base import ImageSet
from radgen.errors import DataError


def split_manifest(images: ImageSet) -> list[str]:
    """Sorted item ids of ``images``."""
    files = images.meta.get("file")
    ids = [str(f) for f in files] if files is not None else images.paths
    return sorted(ids)


def manifest_sha256(ids: list[str]) -> str:
    """sha256 of the ids, one per line, each ending in a newline (UTF-8)."""
    return hashlib.sha256("".join(f"{i}\n" for i in ids).encode()).hexdigest()


def content_sha256(images: ImageSet, *, chunk: int = 2048) -> str:
    """sha256 of the labels, then the stored pixels (uint8 or float32 as stored), in the set's order, read in
    chunks of ``chunk`` images (a memory-mapped set is never read whole)."""
    import torch

    h = hashlib.sha256(np.ascontiguousarray(images.labels.numpy()).tobytes())
    for start in range(0, len(images), chunk):
        block = images.stored(torch.arange(start, min(start + chunk, len(images))))
        h.update(np.ascontiguousarray(block.numpy()).tobytes())
    return h.hexdigest()


def write_manifest(path: str | Path, images: ImageSet, *, split: str = "train") -> str:
    """Write the manifest ({split, n, sha256, content_sha256, ids}) to ``path`` atomically (a run's is
    ``radgen.runfolder.SPLIT_MANIFEST``); return the sha256."""
    from radgen.io import write_json

    ids = split_manifest(images)
    digest = manifest_sha256(ids)
    record = {"split": split, "n": len(ids), "sha256": digest, "content_sha256": content_sha256(images), "ids": ids}
    write_json(Path(path), record)
    return digest


def read_manifest_record(path: str | Path) -> dict | None:
    """The whole manifest at ``path`` when it is a readable file that holds its ids, else None (older runs)."""
    path = Path(path)
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("ids"), list):
        return None
    return data


def read_manifest(path: str | Path) -> list[str] | None:
    """The ids recorded in the manifest at ``path``, or None when there is none (older runs)."""
    record = read_manifest_record(path)
    return None if record is None else [str(i) for i in record["ids"]]


class DataChangedError(DataError):
    """The data a run was trained on changed since (ids or content); the message counts what changed."""


def check_unchanged(path: str | Path, images: ImageSet, *, allow: bool = False, run: str | Path = "") -> dict | None:
    """Compare ``images`` (a run's training split as loaded now) with the run's manifest at ``path``.

    Returns None when they match or the run predates manifests; a record of the differences when ``allow`` (the
    caller stores it: ``--allow-changed-data`` is recorded); else raises ``DataChangedError`` in one line naming
    ``run``, the counts that changed and the way on."""
    recorded = read_manifest_record(path)
    if recorded is None:
        return None
    old_ids = [str(i) for i in recorded["ids"]]
    new_ids = split_manifest(images)
    left, joined = sorted(set(old_ids) - set(new_ids)), sorted(set(new_ids) - set(old_ids))
    old_content = recorded.get("content_sha256")
    content_changed = old_content is not None and old_content != content_sha256(images)
    if not (left or joined or content_changed):
        return None
    parts = []
    if left or joined or len(old_ids) != len(new_ids):
        parts.append(f"{len(old_ids)} -> {len(new_ids)} images ({len(left)} left the split, {len(joined)} joined it)")
    if content_changed:
        parts.append("their pixels or labels differ (content sha256)")
    what = "; ".join(parts)
    if allow:
        return {
            "changed": what,
            "left": len(left),
            "joined": len(joined),
            "content_changed": content_changed,
            "manifest_sha256": recorded.get("sha256"),
            "now_sha256": manifest_sha256(new_ids),
        }
    raise DataChangedError(
        f"{run or Path(path).parent}: the training data changed since the run was trained: {what}; restore the "
        "data, or pass --allow-changed-data to go on (it is recorded)"
    )
