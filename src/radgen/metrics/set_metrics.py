"""Metrics of an image set against the reference set, registered so the evaluation computes every one of them.

A metric here is a function ``(images, reference) -> float`` on (N, C, H, W) images in [0, 1]. The evaluation
protocol (``radgen.evaluation.protocol``) computes each registered metric for the generated set and for the
real-vs-real floor against the reference, and stores both under ``pixels.metrics.<name>`` of ``metrics.json``
with the metric's label; ``radgen.reports.evaluation`` renders one row per entry. Adding a metric is this
registration, in the metric's own module (imported by ``radgen.metrics``): no edit of the protocol, the result
type or the renderer. None is registered by default: the protocol's own pixel metrics (MMD, MS-SSIM diversity,
memorization) keep their places in ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from radgen.registry import Registry


@dataclass(frozen=True)
class SetMetric:
    """A number for an image set against the reference set; ``label`` names its row in metrics.md."""

    label: str
    compute: Callable[[torch.Tensor, torch.Tensor], float]  # (images, reference) -> value
    digits: int = 3  # significant digits in metrics.md


SET_METRICS: Registry[SetMetric] = Registry("evaluation metric")


def register_set_metric(name: str, label: str, *, digits: int = 3):
    """Decorator: register ``fn(images, reference) -> float`` as the evaluation metric ``name``."""

    def wrap(fn: Callable[[torch.Tensor, torch.Tensor], float]) -> Callable[[torch.Tensor, torch.Tensor], float]:
        SET_METRICS.add(name, SetMetric(label, fn, digits), label)
        return fn

    return wrap


def compute_set_metrics(generated: torch.Tensor, floor: torch.Tensor, reference: torch.Tensor) -> dict[str, dict]:
    """Every registered metric for the generated set and the floor against the reference (``pixels.metrics``)."""
    return {
        e.name: {
            "label": e.obj.label,
            "digits": e.obj.digits,
            "generated": float(e.obj.compute(generated, reference)),
            "floor": float(e.obj.compute(floor, reference)),
        }
        for e in SET_METRICS
    }
