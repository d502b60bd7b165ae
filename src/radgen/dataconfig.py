"""The ``data`` section of every config: which images a run sees, and how they are prepared.

It lives on the floor layer, apart from the loaders in ``radgen.data`` (which import numpy and torch), so that
the command line builds its data options from these fields without importing either: each field's
``metadata["help"]`` is its option's help text, and ``metadata`` may name the option's flags (``flags``),
``metavar`` and ``choices``. A field added here reaches ``radgen data inspect`` and ``radgen classify`` with no
CLI edit (``radgen.cli.options``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Storage = Literal["auto", "memory", "mmap"]
STORAGES = ("auto", "memory", "mmap")


def _help(text: str, **more: Any) -> dict[str, Any]:
    return {"help": text, **more}


@dataclass
class DataConfig:
    """Everything that decides which images a run sees. YAML section ``data``."""

    name: str = field(
        default="chest_xray_full_64",
        metadata=_help("registered dataset name, or a path whose format is detected"),
    )
    path: str | None = field(  # file or folder; default: the source's place under the data root
        default=None, metadata=_help("file or folder of the dataset (default: its place under the data root)")
    )
    data_dir: str | None = field(  # data root; default RADGEN_DATA_DIR, ../shared/data, ~/.cache/radgen
        default=None, metadata=_help("data root (default: $RADGEN_DATA_DIR, ../shared/data, ~/.cache/radgen)")
    )
    size: int | None = field(  # square side in px; None keeps the stored size (arrays) or the source default
        default=None, metadata=_help("resize to SIZE x SIZE pixels (Lanczos)")
    )
    channels: int = field(  # 1, or 3 (grey replicated, design document 000)
        default=1, metadata=_help("1 (grey) or 3 (grey replicated)", choices=(1, 3))
    )
    crop: Literal["none", "center"] = field(default="none", metadata=_help("centre square crop before resizing"))
    equalize: Literal["none", "histogram"] = field(default="none", metadata=_help("histogram equalization"))
    normalize: Literal["none", "imagenet"] = field(default="none", metadata=_help("ImageNet mean/std normalisation"))
    split_ratio: float | None = field(  # train fraction when the source has a single split (000: 0.8)
        default=None, metadata=_help("train fraction for sources with one split (patient-level)")
    )
    val_from_train: float | None = field(  # patient-level validation fraction carved from train
        default=None, metadata=_help("carve a patient-level validation split of this fraction from train")
    )
    seed: int = field(default=0, metadata=_help("seed of the splits (default 0)"))  # for split_ratio, val_from_train
    keep_classes: list[str] | None = field(  # e.g. [NORMAL]: train on one class
        default=None, metadata=_help("keep only these classes in every split (e.g. NORMAL)", metavar="NAME,NAME")
    )
    on_bad_file: Literal["error", "skip"] = field(
        default="skip", metadata=_help("stop at a bad file, or skip and count (default)")
    )
    cache: bool = field(default=True, metadata=_help("neither read nor write the preprocessed cache"))
    # auto: the cache is memory-mapped, and built in chunks when the pixels exceed max_memory_gb;
    # memory: everything in RAM (no streaming); mmap: always built into and mapped from the cache
    storage: Storage = field(
        default="auto",
        metadata=_help(
            "pixels memory-mapped from the cache (auto: and streamed into it beyond --max-memory-gb), or in RAM"
        ),
    )
    max_memory_gb: float | None = field(  # budget for in-memory pixels (1 GB = 1e9 bytes); None: 25 % of RAM
        default=None, metadata=_help("memory budget for decoded pixels (default 25 % of RAM); beyond it they stream")
    )
    options: dict[str, Any] = field(  # source-specific, see `radgen list datasets`
        default_factory=dict,
        metadata=_help(
            "source-specific option (see `radgen list datasets -v`), repeatable",
            flags=("-o", "--option"),
            metavar="KEY=VALUE",
        ),
    )
