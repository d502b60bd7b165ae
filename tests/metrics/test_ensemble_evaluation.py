"""Issue 34 wired: the evaluation's extractor ensembles, the features it keeps, and rank probabilities between
evaluated generators."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch

from radgen.data import DataConfig
from radgen.data.base import DataSplits, ImageSet
from radgen.errors import ConfigError, DataError
from radgen.evaluation import EvaluationResult, build_sets, evaluate_generator
from radgen.evaluation import protocol as protocol_module
from radgen.evaluation.ranking import load_features, rank_generators, rank_pairs, save_features, separated_best
from radgen.metrics.distances import frechet_distance
from radgen.metrics.features import FeatureExtractor, get_extractor
from radgen.metrics.radiomics import radiomics_features
from radgen.reports.evaluation import to_markdown
from radgen.reports.sanity import rank_markdown


def _set(n: int, seed: int) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=g)
    return ImageSet(pixels=pixels, labels=torch.arange(n) % 2, class_names=("a", "b"), channels=1)


@pytest.fixture
def toy():
    splits = DataSplits("toy", "-", {"train": _set(300, 0), "val": _set(60, 1)})
    sets = build_sets(splits, n=60, seed=0, min_reference=20)
    return splits, sets


def _projection(seed: int) -> torch.Tensor:
    return torch.randn(256, 6, generator=torch.Generator().manual_seed(100 + seed), dtype=torch.float64)


def _projected(x: torch.Tensor, k: int) -> np.ndarray:
    return (x.flatten(1).double() @ _projection(k)).numpy()


def _fake_extractor(name: str, *, seed: int = 0, **_) -> FeatureExtractor:
    """A stand-in for a trained view: a random projection of the pixels that depends on the seed (one "training"
    per seed); ``radgen-cnn001`` also gets a two-class head (label fidelity). Other names: the real extractor."""
    if name not in ("radgen-cnn001", "radgen-ae001"):
        return get_extractor(name)
    w = _projection(seed)

    def fn(x):
        return x.flatten(1).double() @ w

    probs = (lambda x: torch.softmax(fn(x)[:, :2], 1)) if name == "radgen-cnn001" else None
    return FeatureExtractor(name, f"FD_{name}", 6, f"sha-{name}-{seed}", {"seed": seed}, fn, probs_fn=probs)


def test_a_trained_view_is_an_ensemble_of_seeds_whose_mean_and_floor_are_hand_computable(toy, monkeypatch):
    splits, sets = toy
    monkeypatch.setattr(protocol_module, "get_extractor", _fake_extractor)
    brighter = lambda labels, seed: (sets.reference.images[: len(labels)] * 0.7 + 0.2).clamp(0, 1)  # noqa: E731
    out, used = evaluate_generator(
        brighter, splits, conditional=True, data_config=DataConfig(), n=60, features=("radgen-cnn001", "radiomics"),
        bootstrap=8, sets=sets, shifted_test=False, extractor_seeds=3,
    )  # fmt: skip
    written = json.loads(json.dumps(out, default=float))  # what metrics.json holds
    e = written["features"]["radgen-cnn001"]
    ens = e["ensemble"]
    assert ens["seeds"] == [0, 1, 2] and [x["weights_sha256"] for x in ens["extractors"]] == [
        "sha-radgen-cnn001-0",
        "sha-radgen-cnn001-1",
        "sha-radgen-cnn001-2",
    ]
    ref, flo, gen = sets.reference.images, sets.floor.images, brighter(sets.reference.labels, 0)
    proj = [partial(_projected, k=k) for k in range(3)]
    want_g = [frechet_distance(p(ref), p(gen)) for p in proj]
    want_f = [frechet_distance(p(ref), p(flo)) for p in proj]
    g, f = ens["reference"]["generated"], ens["reference"]["floor"]
    np.testing.assert_allclose(g["per_seed"], want_g, rtol=1e-9)
    np.testing.assert_allclose(f["per_seed"], want_f, rtol=1e-9)
    assert g["FD"] == pytest.approx(np.mean(want_g), rel=1e-9) and f["FD"] == pytest.approx(np.mean(want_f), rel=1e-9)
    assert ens["reference"]["ratio"] == pytest.approx(np.mean(want_g) / np.mean(want_f), rel=1e-9)
    assert g["n_seeds"] == 3 and g["n_resamples"] == 8 and g["FD_interval"][0] <= g["FD_interval"][1]
    assert g["seed_sd"] == pytest.approx(np.std(want_g, ddof=1), rel=1e-9) and g["seed_sd"] > 0
    # the flat keys and the typed reader give the ensemble; the seed-0 block stays for KD / PRDC
    assert e["FD_radgen-cnn001"] == g["FD"] and e["FD_radgen-cnn001_ci95"] == g["FD_interval"]
    assert e["reference"]["generated"]["FD"] == pytest.approx(want_g[0], rel=1e-9)
    d = EvaluationResult(written).distance("radgen-cnn001")
    assert (d.value, d.ci95, d.floor, d.n_seeds) == (g["FD"], tuple(g["FD_interval"]), f["FD"], 3)
    # per class: the same computation on each class's rows
    cls_a = ens["per_class"]["a"]["generated"]
    ma, ga = sets.reference.labels == 0, brighter(sets.reference.labels, 0)
    assert cls_a["FD"] == pytest.approx(np.mean([frechet_distance(p(ref[ma]), p(ga[ma])) for p in proj]), rel=1e-9)
    # the weight-free view is one "seed"; the features the evaluation keeps are the extractors' own
    r = written["features"]["radiomics"]["ensemble"]
    assert r["seeds"] == [0] and r["reference"]["generated"]["FD"] == pytest.approx(
        frechet_distance(radiomics_features(ref), radiomics_features(gen)), rel=1e-9
    )
    np.testing.assert_allclose(used["features"]["radiomics"]["reference"][0], radiomics_features(ref), rtol=1e-12)
    assert len(used["features"]["radgen-cnn001"]["generated"]) == 3
    md = to_markdown({**written, "model": "toy", "run": "-"})
    lo, hi = g["FD_interval"]
    assert f"| FD_radgen-cnn001 (radgen-cnn001) | {g['FD']:.3g} [{lo:.3g}, {hi:.3g}] (floor {f['FD']:.3g}" in md
    assert "3 seeds)" in md and "two-level bootstrap interval" in md


def test_extractor_seeds_below_one_are_refused(toy):
    splits, sets = toy
    with pytest.raises(ConfigError, match="extractor_seeds=0 must be at least 1"):
        evaluate_generator(
            lambda labels, seed: sets.reference.images, splits, conditional=False, data_config=DataConfig(), n=60,
            features=(), sets=sets, extractor_seeds=0,
        )  # fmt: skip


def _gauss(n: int, shift: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc=shift, size=(n, 5))


def test_kept_features_round_trip_and_rank_the_closer_generator_first(tmp_path):
    ref = [_gauss(300, 0.0, k) for k in range(2)]
    feats = {
        g: {"v": {"reference": ref, "generated": [_gauss(300, shift, 10 * i + k) for k in range(2)]}}
        for i, (g, shift) in enumerate((("near", 0.05), ("far", 1.0), ("near2", 0.05)))
    }
    for g, f in feats.items():
        (tmp_path / g).mkdir()
        save_features(tmp_path / g, f)
    back = {g: load_features(tmp_path / g) for g in feats}
    np.testing.assert_allclose(back["far"]["v"]["generated"][1], feats["far"]["v"]["generated"][1], rtol=1e-6)
    r = rank_generators(back, n_resamples=40, seed=0)
    by = {(p["a"], p["b"]): p for p in r["pairs"]}
    assert r["n_seeds"] == {"v": 2} and len(r["pairs"]) == 3
    assert by[("near", "far")]["winner"] == "near" and by[("near", "far")]["p"]["v"] >= 0.95
    assert by[("far", "near2")]["winner"] == "near2" and by[("far", "near2")]["p"]["v"] <= 0.05
    assert by[("near", "near2")]["winner"] is None and "not separated" in by[("near", "near2")]["statement"]
    assert separated_best(r, ["near", "far"]) == "near" and separated_best(r, ["near", "near2", "far"]) is None
    md = "\n".join(rank_markdown(rank_pairs(r)))
    assert "| near | far | " in md and "near before far" in md and "near and near2 not separated" in md


def test_generators_ranked_against_different_references_are_refused():
    a = {"v": {"reference": [_gauss(50, 0, 0)], "generated": [_gauss(50, 0, 1)]}}
    b = {"v": {"reference": [_gauss(50, 0, 2)], "generated": [_gauss(50, 0, 3)]}}
    with pytest.raises(DataError, match="not evaluated against the same reference features under v"):
        rank_generators({"a": a, "b": b}, n_resamples=5)
    with pytest.raises(DataError, match="missing: re-run `radgen evaluate`"):
        load_features("/nonexistent-folder")


def test_every_entry_point_trains_the_same_ensemble_by_default():
    """`radgen evaluate`, `radgen.api.evaluate`, `evaluate_run`, the protocol and the demo share one default K
    (issue 34: a single extractor cannot tell its own training noise from a difference between generators)."""
    import inspect

    from radgen import api
    from radgen.cli import build_parser
    from radgen.evaluation import evaluate_run
    from radgen.evaluation.protocol import EXTRACTOR_SEEDS
    from radgen.experiments.demo import DemoSettings

    assert EXTRACTOR_SEEDS == 3
    for command in (["evaluate", "RUN"], ["demo"]):
        assert build_parser().parse_args(command).extractor_seeds == EXTRACTOR_SEEDS, command
    for fn in (api.evaluate, evaluate_run, evaluate_generator, api.demo):
        assert inspect.signature(fn).parameters["extractor_seeds"].default == EXTRACTOR_SEEDS, fn
    assert DemoSettings().extractor_seeds == EXTRACTOR_SEEDS
