"""The augmentation experiment's arm logic and statistics, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from radgen.classifiers.train import ClassifierTrainConfig
from radgen.data.base import ImageSet
from radgen.errors import ConfigError
from radgen.experiments.augment import (
    AugmentConfig,
    arm_train_config,
    arm_training_set,
    check_config,
    expand_arms,
    is_synthetic,
    pool_sizes,
    stratified_subsample,
    summarize,
    synthetic_counts_to_ratio,
    to_imageset,
)
from radgen.experiments.stats import mean_std, paired_difference


def _set(n0: int, n1: int, tag: str = "real") -> ImageSet:
    n = n0 + n1
    return ImageSet(
        pixels=torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8),
        labels=torch.tensor([0] * n0 + [1] * n1),
        class_names=("NORMAL", "PNEUMONIA"),
        meta={
            "path": np.array([f"{tag}/{i}.png" for i in range(n)]),
            "patient": np.array([f"p{i // 2}" for i in range(n)]),
            "orig_width": np.full(n, 640),
        },
    )


def _pool(n0: int, n1: int) -> ImageSet:
    like = _set(1, 1)
    labels = torch.tensor([0] * n0 + [1] * n1)
    return to_imageset(torch.rand(n0 + n1, 1, 8, 8), labels, like, origin="gen")


def test_synthetic_counts_reach_the_ratio():
    labels = torch.tensor([0] * 100 + [1] * 300)
    assert synthetic_counts_to_ratio(labels, 2, 1.0) == {0: 200}
    assert synthetic_counts_to_ratio(labels, 2, 0.5) == {0: 50}
    assert synthetic_counts_to_ratio(labels, 2, 0.2) == {}  # already above the ratio
    assert synthetic_counts_to_ratio(torch.tensor([0] * 10 + [1] * 40 + [2] * 20), 3, 1.0) == {0: 30, 2: 20}


def test_synthetic_images_enter_the_training_split_only_and_balance_it():
    real, pool = _set(100, 300), _pool(250, 200)
    cfg = AugmentConfig(generators={"gen": "unused"}, ratio=1.0, synthetic_only_fraction=0.5)
    arms = {a.name: a for a in expand_arms(cfg)}
    assert list(arms) == ["real", "weighted", "oversample", "classic", "+gen", "gen only"]
    aug = arm_training_set(arms["+gen"], real, {"gen": pool}, cfg)
    assert aug.class_counts() == {"NORMAL": 300, "PNEUMONIA": 300}
    assert int(is_synthetic(aug).sum()) == 200 and not is_synthetic(aug)[: len(real)].any()
    assert torch.equal(aug.pixels[: len(real)], real.pixels)  # the real images are untouched
    assert (aug.labels[is_synthetic(aug)] == 0).all()  # only the minority class is added
    only = arm_training_set(arms["gen only"], real, {"gen": pool}, cfg)
    assert only.class_counts() == {"NORMAL": 50, "PNEUMONIA": 150} and is_synthetic(only).all()
    for name in ("real", "weighted", "oversample", "classic"):
        assert arm_training_set(arms[name], real, {"gen": pool}, cfg) is real
    # the pool is sized for every arm of its generator: 200 minority images for 1:1, 150 majority for "only"
    assert pool_sizes(real, list(arms.values()), cfg) == {"gen": {0: 200, 1: 150}}
    # metadata columns survive concatenation, numbers filled with -1
    assert set(aug.meta) == {"path", "patient", "orig_width"} and (aug.meta["orig_width"][len(real) :] == -1).all()
    # too small a pool is an error, not a silently smaller arm
    with pytest.raises(ConfigError, match="needed"):
        arm_training_set(arms["+gen"], real, {"gen": _pool(10, 10)}, cfg)


def test_arm_configs_differ_only_in_their_remedy():
    base = ClassifierTrainConfig(epochs=3)
    arms = {a.name: a for a in expand_arms(AugmentConfig())}
    assert arm_train_config(arms["weighted"], base, 7).loss == "weighted_ce"
    assert arm_train_config(arms["oversample"], base, 7).sampling == "oversample"
    assert arm_train_config(arms["classic"], base, 7).augment == "classic"
    plain = arm_train_config(arms["real"], base, 7)
    assert (plain.loss, plain.sampling, plain.augment, plain.seed, plain.epochs) == ("ce", "shuffle", "none", 7, 3)


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="not an arm"):
        check_config(AugmentConfig(arms=["real", "mixup"]))
    with pytest.raises(ConfigError, match="needs generators"):
        check_config(AugmentConfig(arms=["real", "synthetic"]))
    with pytest.raises(ConfigError, match="baseline"):
        check_config(AugmentConfig(arms=["weighted"]))
    with pytest.raises(ConfigError, match="names no generator"):
        check_config(AugmentConfig(arms=["real", "synthetic:ddpm"], generators={"cvae": "x"}))
    assert [
        a.name for a in expand_arms(AugmentConfig(arms=["real", "synthetic:b"], generators={"a": "x", "b": "y"}))
    ] == ["real", "+b"]


def test_stratified_subsample_keeps_proportions():
    s = stratified_subsample(_set(100, 300), 40, seed=0)
    assert s.class_counts() == {"NORMAL": 10, "PNEUMONIA": 30}


def test_mean_std_and_paired_difference_against_hand_values():
    m = mean_std([0.70, 0.74, 0.78])
    assert m["mean"] == pytest.approx(0.74) and m["std"] == pytest.approx(0.04) and m["n"] == 3
    assert math.isnan(mean_std([0.5])["std"])
    d = paired_difference([0.80, 0.79, 0.85], [0.70, 0.74, 0.78])  # differences 0.10, 0.05, 0.07
    sd = np.std([0.10, 0.05, 0.07], ddof=1)
    half = 4.302652729911275 * sd / math.sqrt(3)  # t_{0.975, 2}
    assert d["diff"] == pytest.approx(0.22 / 3) and d["std"] == pytest.approx(sd)
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((0.22 / 3 - half, 0.22 / 3 + half))
    assert d["wins"] == 3 and d["n"] == 3
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])


def test_summarize_pairs_arms_with_the_baseline_by_seed():
    def row(arm, seed, bal):
        m = {
            "accuracy": bal,
            "balanced_accuracy": bal,
            "macro_f1": bal,
            "auroc": bal,
            "confusion_matrix": [[1, 0], [0, 1]],
        }
        m.update({f"{k}/{c}": bal for k in ("precision", "recall", "f1") for c in ("N", "P")})
        return {
            "arm": arm,
            "kind": arm,
            "generator": None,
            "seed": seed,
            "train_counts": {},
            "synthetic_in_train": 0,
            "epochs_run": 1,
            "test": m,
        }

    rows = [row("real", 1, 0.7), row("real", 0, 0.6), row("weighted", 0, 0.65), row("weighted", 1, 0.8)]
    s = summarize(rows, ("N", "P"))
    v = s["arms"]["weighted"]["vs_baseline"]["balanced_accuracy"]
    assert v["diff"] == pytest.approx(0.075) and v["wins"] == 2  # (0.65 - 0.6 + 0.8 - 0.7) / 2
    assert s["arms"]["real"]["metrics"]["balanced_accuracy"]["mean"] == pytest.approx(0.65)
    assert "vs_baseline" not in s["arms"]["real"]
