"""``EvaluationResult``: ``metrics.json`` read back, in every layout radgen has written.

The protocol's layout (issue 18 on) keeps each extractor's comparison under ``features.<name>.reference``
(``generated``/``floor`` blocks, ``FD_ratio``) and the pixel MMD under ``pixels.mmd.generated``; older
evaluations have only flat keys (``features.<name>.FD_<name>``, ``..._ci95``, ``pixels.mmd.mmd2``), which the
protocol still writes beside the blocks for older readers. Since issue 34 an evaluation also holds
``features.<name>.ensemble`` (the FD as the mean over the view's extractor seeds, with the two-level bootstrap
interval and the floor computed the same way); ``distance`` reads it first. This type is the one place that knows
every layout: readers ask it for a ``Distance`` or the MMD instead of searching keys by prefix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radgen.runfolder import EVAL_SUMMARY


@dataclass(frozen=True)
class Distance:
    """One extractor's Frechet distance of the generated set to the reference, with its yardsticks."""

    extractor: str
    name: str  # "FID" (verified Inception weights only) or "FD_<extractor>"
    value: float | None
    ci95: tuple[float, float] | None
    floor: float | None  # real-vs-real at the same N; None for evaluations written before the floor
    ratio: float | None  # value / floor
    kd: float | None
    inception_score: float | None
    n_seeds: int = 1  # extractor seeds the value is the mean over (1 before issue 34's ensembles)
    floor_interval: tuple[float, float] | None = None  # the ensemble floor's two-level interval
    interval_method: str | None = None


@dataclass(frozen=True)
class EvaluationResult:
    """The metrics of one evaluation (the dict ``metrics.json`` holds), with typed readers."""

    data: dict[str, Any]

    @classmethod
    def read(cls, path: str | Path) -> EvaluationResult:
        """The result in an evaluation folder (or a ``metrics.json`` file)."""
        p = Path(path)
        return cls(json.loads((p / EVAL_SUMMARY if p.is_dir() else p).read_text()))

    @property
    def extractors(self) -> list[str]:
        """The feature extractors evaluated, in order."""
        return list(self.data.get("features", {}))

    def has_floor(self, extractor: str) -> bool:
        """True when the extractor's block has the protocol's floor (evaluations since issue 18)."""
        return "reference" in self.data["features"][extractor]

    def distance(self, extractor: str) -> Distance:
        """The extractor's distance, from the protocol's blocks where present, else from the flat keys."""
        e = self.data["features"][extractor]
        ex = e.get("extractor", {}).get("name", extractor)
        name = e.get("distance_name") or next(
            k for k in e if k.startswith(("FID", "FD_")) and not k.endswith(("_ci95", "_floor", "_ratio"))
        )
        block, ens = e.get("reference"), e.get("ensemble")
        if ens is not None:  # issue 34: mean over the view's extractor seeds, two-level bootstrap interval
            r = ens["reference"]
            g, f = r["generated"], r["floor"]
            return Distance(
                extractor=extractor,
                name=name,
                value=g["FD"],
                ci95=tuple(g["FD_interval"]),
                floor=f["FD"],
                ratio=r["ratio"],
                kd=block["generated"].get("KD") if block else None,
                inception_score=e.get(f"IS_{ex}"),
                n_seeds=int(g["n_seeds"]),
                floor_interval=tuple(f["FD_interval"]),
                interval_method=g["method"],
            )
        if block is not None:
            g, f = block["generated"], block["floor"]
            value, ci, floor, ratio = g["FD"], g.get("FD_ci95"), f["FD"], block.get("FD_ratio")
            kd = g.get("KD")
        else:
            value, ci = e.get(name), e.get(f"{name}_ci95")
            floor, ratio, kd = e.get(f"{name}_floor"), e.get(f"{name}_ratio"), e.get(f"KD_{ex}")
        return Distance(
            extractor=extractor,
            name=name,
            value=value,
            ci95=tuple(ci) if ci else None,
            floor=floor,
            ratio=ratio,
            kd=kd,
            inception_score=e.get(f"IS_{ex}"),
        )

    @property
    def mmd2(self) -> float:
        """The generated set's pixel MMD^2 against the reference."""
        mm = self.data["pixels"]["mmd"]
        return mm["generated"]["mmd2"] if "generated" in mm else mm["mmd2"]

    @property
    def mmd2_floor(self) -> float | None:
        """The floor's pixel MMD^2 (None before the floor protocol)."""
        return self.data["pixels"]["mmd"].get("floor", {}).get("mmd2")

    @property
    def set_metrics(self) -> dict[str, dict[str, Any]]:
        """The registered set metrics (``radgen.metrics.set_metrics``): name -> label, digits, generated, floor."""
        return dict(self.data.get("pixels", {}).get("metrics", {}))
