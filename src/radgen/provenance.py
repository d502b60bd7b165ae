"""Provenance: the git commit, package versions and machine a result was made with.

One place for what ``run.json`` (``radgen train``), ``demo.json`` (``radgen demo``) and the
benchmark result files record. Nothing here imports torch at module import, so the CLI's
``--help``/``--version`` stay fast.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# the distributions a result depends on, by the name each is installed under
PACKAGES = ("torch", "lightning", "torchmetrics", "diffusers", "numpy", "scikit-learn")


def git_sha(*, short: bool = False) -> str | None:
    """The commit of the radgen checkout this module is imported from (None outside a git checkout)."""
    cmd = ["git", "rev-parse", *(["--short"] if short else []), "HEAD"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (r.stdout.strip() or None) if r.returncode == 0 else None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """radgen, Python and the installed version of every package in ``PACKAGES``."""
    from radgen import __version__

    return {"radgen": __version__, "python": sys.version.split()[0], **{p: _version(p) for p in PACKAGES}}


def machine() -> str:
    """Architecture, CPU cores, torch threads and OS: ``x86_64, 2 CPU cores, 2 torch threads, Linux 6.1``."""
    import torch

    return (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, "
        f"{platform.system()} {platform.release()}"
    )


def provenance(*, short_sha: bool = False) -> dict[str, object]:
    """``{"git_sha", "versions", "machine"}``: what every result file records about its making."""
    return {"git_sha": git_sha(short=short_sha), "versions": versions(), "machine": machine()}
