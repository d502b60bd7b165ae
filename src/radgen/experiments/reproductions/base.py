"""What every reproduction shares: its context, the registry with each reproduction's options, and helpers.

A reproduction is a function ``run(ctx: ReproduceContext) -> dict`` (its results, with a ``markdown`` table),
registered by name with ``register_reproduction``, which also declares the options it takes (``--data``,
``--versions``). ``radgen.experiments.reproduce.run_reproduction`` checks the options against the registration
before anything is written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radgen.registry import Registry


@dataclass
class ReproduceContext:
    """What every reproduction gets: its output folder, epochs, quick mode and training overrides."""

    out: Path
    epochs: int | None = None  # None: the documents' epochs
    quick: bool = False  # smoke: a few batches per epoch, small test subsets
    progress: bool = False
    include_all: bool = False  # also the settings the document did not tabulate
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE for every training run
    inception_weights: str | None = None  # --inception-weights: adds the FID column where the document reports FID
    data: str | None = None  # --data NAME: replaces the configs' dataset (reproductions registered with takes_data)
    versions: tuple[str, ...] = ()  # --versions: a subset of a reproduction's rows (its registered versions)

    def config(self, name: str, *extra: str, run_name: str | None = None):
        from radgen.training.config import load_run_config

        overrides = [
            f"output_dir={self.out / 'runs'}",
            f"name={run_name or name}",
            f"train.progress_bar={str(self.progress).lower()}",
            *extra,
        ]
        if self.epochs is not None:
            overrides.append(f"train.epochs={self.epochs}")
        if self.quick:
            overrides += [
                "train.limit_train_batches=2",
                "train.limit_val_batches=1",
                "train.sample_every=0",
                "train.checkpoint_every=0",
            ]
        return load_run_config(name, overrides + list(self.overrides))

    def rel(self, path: str | Path) -> str:
        return str(Path(path).relative_to(self.out))


@dataclass(frozen=True)
class Reproduction:
    """A registered reproduction: the function that runs it and the options it takes."""

    run: Callable[[ReproduceContext], dict[str, Any]]
    takes_data: bool = False  # --data NAME replaces the configs' dataset
    versions: tuple[str, ...] = ()  # --versions picks a subset of these rows


REPRODUCTIONS: Registry[Reproduction] = Registry("reproduction")


def register_reproduction(
    name: str, description: str, *, takes_data: bool = False, versions: tuple[str, ...] = ()
) -> Callable[[Callable[[ReproduceContext], dict[str, Any]]], Callable[[ReproduceContext], dict[str, Any]]]:
    """Decorator: register ``fn(ctx) -> result`` as the reproduction ``name`` with the options it takes."""

    def wrap(fn: Callable[[ReproduceContext], dict[str, Any]]) -> Callable[[ReproduceContext], dict[str, Any]]:
        REPRODUCTIONS.add(name, Reproduction(fn, takes_data, tuple(versions)), description)
        return fn

    return wrap


def log(msg: str) -> None:
    """One progress line on stderr, prefixed ``radgen reproduce:``."""
    print(f"radgen reproduce: {msg}", file=sys.stderr, flush=True)


def budget_text(b: dict[str, Any]) -> str:
    """A trained budget in words (``radgen.reports.evaluation.budget_text``)."""
    from radgen.reports.evaluation import budget_text as text

    return text(b)


def cell(v: float | None, digits: int = 2) -> str:
    """A table cell: ``v`` with ``digits`` decimals, or a dash."""
    return "—" if v is None else f"{v:.{digits}f}"
