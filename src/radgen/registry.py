"""One small name -> object registry; the only place that maps names to classes.

Instances: ``radgen.data.DATASETS`` (data sources), ``radgen.models.MODELS`` (model families and
presets), ``radgen.metrics.features.FEATURES`` (feature extractors), ``radgen.classifiers.CLASSIFIERS``
(networks), ``radgen.classifiers.judge.JUDGES`` (network + training settings) and
``radgen.experiments.reproduce.REPRODUCTIONS`` (the design documents' tables). Registered names are a public
contract: add, never rename.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from radgen.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object with its name and one-line description."""

    name: str
    obj: T
    description: str


class Registry(Generic[T]):
    """``@REG.register("name", "one line, citing the paper")`` then ``REG.get("name")``."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, description: str) -> Callable[[T], T]:
        if not name or name != name.strip() or " " in name:
            raise ValueError(f"registry name {name!r} must be a non-empty word")

        def deco(obj: T) -> T:
            self.add(name, obj, description)
            return obj

        return deco

    def add(self, name: str, obj: T, description: str) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = Entry(name, obj, description)

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none registered)"
            raise ConfigError(f"unknown {self.kind} {name!r}; valid: {valid}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)
