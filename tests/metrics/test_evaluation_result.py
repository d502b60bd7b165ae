"""Adding a metric to the evaluation is one registration; ``EvaluationResult`` reads every metrics.json layout."""

from __future__ import annotations

import json

import pytest
import torch

from radgen.data import DataConfig
from radgen.data.base import DataSplits, ImageSet
from radgen.evaluation import EvaluationResult, build_sets, evaluate_generator
from radgen.metrics import set_metrics
from radgen.reports.evaluation import to_markdown


def _set(n: int, seed: int) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=g)
    return ImageSet(pixels=pixels, labels=torch.arange(n) % 2, class_names=("a", "b"), channels=1)


@pytest.fixture
def registry(monkeypatch):
    """SET_METRICS with the test's registrations undone afterwards."""
    monkeypatch.setattr(set_metrics.SET_METRICS, "_entries", dict(set_metrics.SET_METRICS._entries))
    return set_metrics.SET_METRICS


def test_a_registered_metric_reaches_metrics_json_and_the_rendered_table(registry):
    @set_metrics.register_set_metric("mean_gap", "mean intensity gap to the reference", digits=4)
    def mean_gap(images: torch.Tensor, reference: torch.Tensor) -> float:
        return float((images.mean() - reference.mean()).abs())

    splits = DataSplits("toy", "-", {"train": _set(200, 0), "val": _set(40, 1)})
    sets = build_sets(splits, n=40, seed=0, min_reference=20)
    brighter = lambda labels, seed: (sets.reference.images[: len(labels)] + 0.1).clamp(0, 1)  # noqa: E731
    out, _ = evaluate_generator(
        brighter, splits, conditional=False, data_config=DataConfig(), n=40, features=(), bootstrap=0, sets=sets
    )
    written = json.loads(json.dumps(out, default=str))  # what metrics.json holds
    got = EvaluationResult(written).set_metrics["mean_gap"]
    ref = sets.reference.images
    want_g = float((brighter(ref[:, 0, 0, 0], 0).mean() - ref.mean()).abs())
    want_f = float((sets.floor.images.mean() - ref.mean()).abs())
    assert got["generated"] == pytest.approx(want_g, rel=1e-6) and got["floor"] == pytest.approx(want_f, rel=1e-6)
    assert 0.05 < got["generated"] < 0.1 and got["generated"] > got["floor"]  # clamping keeps it under 0.1
    md = to_markdown({**written, "model": "toy", "run": "-"})
    assert f"| mean intensity gap to the reference | {got['generated']:.4g} (floor {got['floor']:.4g}) |" in md


def test_nothing_registered_adds_no_key():
    assert "mean_gap" not in set_metrics.SET_METRICS
    assert (
        set_metrics.compute_set_metrics(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)) == {}
    )


def test_the_result_reads_the_protocol_layout_and_the_flat_layout_alike():
    block = {
        "generated": {"FD": 4.0, "FD_ci95": [3.5, 4.5], "KD": 0.2},
        "floor": {"FD": 0.5},
        "FD_ratio": 8.0,
    }
    new = {
        "features": {
            "radgen-cnn001": {
                "extractor": {"name": "radgen-cnn001"},
                "distance_name": "FD_radgen-cnn001",
                "reference": block,
                "FD_radgen-cnn001": 4.0,
                "IS_radgen-cnn001": 1.5,
            }
        },
        "pixels": {"mmd": {"generated": {"mmd2": 0.03}, "floor": {"mmd2": 0.01}, "mmd2": 0.03}},
    }
    old = {
        "features": {
            "radgen-cnn001": {
                "extractor": {"name": "radgen-cnn001"},
                "FD_radgen-cnn001": 4.0,
                "FD_radgen-cnn001_ci95": [3.5, 4.5],
                "FD_radgen-cnn001_floor": 0.5,
                "FD_radgen-cnn001_ratio": 8.0,
                "KD_radgen-cnn001": 0.2,
                "IS_radgen-cnn001": 1.5,
            }
        },
        "pixels": {"mmd": {"mmd2": 0.03}},
    }
    a, b = EvaluationResult(new), EvaluationResult(old)
    assert a.distance("radgen-cnn001") == b.distance("radgen-cnn001")
    d = a.distance("radgen-cnn001")
    assert (d.name, d.value, d.ci95, d.floor, d.ratio, d.kd, d.inception_score) == (
        "FD_radgen-cnn001",
        4.0,
        (3.5, 4.5),
        0.5,
        8.0,
        0.2,
        1.5,
    )
    assert a.has_floor("radgen-cnn001") and not b.has_floor("radgen-cnn001")
    assert a.mmd2 == b.mmd2 == 0.03 and a.mmd2_floor == 0.01 and b.mmd2_floor is None
