"""The augmentation experiment's arm logic and statistics, against hand-computed values."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from radgen.classifiers.train import ClassifierTrainConfig
from radgen.data.base import ImageSet
from radgen.errors import ConfigError
from radgen.experiments.augment import (
    AugmentConfig,
    arm_stages,
    arm_train_config,
    arm_training_set,
    check_config,
    expand_arms,
    is_synthetic,
    pool_sizes,
    stratified_subsample,
    summarize,
    summary_markdown,
    synthetic_counts_amount,
    synthetic_counts_to_ratio,
    to_imageset,
)
from radgen.experiments.stats import (
    holm,
    mean_std,
    minimum_detectable_effect,
    paired_difference,
    paired_interval,
    paired_power,
    paired_t_pvalue,
    seeds_needed,
)


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


def test_a_pool_made_like_a_memory_mapped_subset_is_its_own_storage():
    """issue 30 item 7: on a warm preprocessing cache the real split is memory-mapped, and a stratified subsample of
    it is a row index into the cache; the pool made "like" it must not inherit that index (the demo crashed with
    "rows index outside the 188 stored images", or read the wrong pixels when the pool was larger)."""
    cached = replace(_set(30, 70), storage="mmap")
    like = stratified_subsample(cached, 40, seed=0)  # what run_augment mixes into, as the quick demo does
    assert like.rows is not None and int(like.rows.max()) >= 12  # rows reach past a 12-image pool
    for n in (12, 40, 188):
        images = torch.rand(n, 1, 8, 8)
        pool = to_imageset(images, torch.zeros(n, dtype=torch.long), like, origin="gen")
        assert len(pool) == n and pool.rows is None and pool.storage == "memory"
        assert torch.equal(pool.stored(), (images * 255 + 0.5).to(torch.uint8))
        both = ImageSet.concat([like, pool.subset(np.arange(n // 2))])  # the +G arm's training set
        assert len(both) == 40 + n // 2 and torch.equal(both.stored()[:40], like.stored())


def test_synthetic_images_enter_the_training_split_only_and_balance_it():
    real, pool = _set(100, 300), _pool(250, 200)
    cfg = AugmentConfig(
        generators={"gen": "unused"},
        ratio=1.0,
        synthetic_only_fraction=0.5,
        arms=["real", "weighted", "oversample", "classic", "synthetic", "synthetic_only"],
    )
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


# --------------------------------------------------------------------------- the literature's arms
def _rows_equal_some(images: torch.Tensor, reference: torch.Tensor) -> bool:
    flat, ref = images.flatten(1), reference.flatten(1)
    return bool((flat[:, None, :] == ref[None, :, :]).all(-1).any(1).all())


def test_duplicate_control_matches_the_synthetic_arm_with_real_pixels_only():
    real, pool = _set(100, 300), _pool(250, 200)
    cfg = AugmentConfig(generators={"gen": "unused"}, arms=["real", "synthetic", "duplicate"], ratio=0.8)
    arms = {a.name: a for a in expand_arms(cfg)}
    syn = arm_training_set(arms["+gen"], real, {"gen": pool}, cfg)
    dup = arm_training_set(arms["duplicate"], real, {"gen": pool}, cfg)
    assert dup.class_counts() == syn.class_counts() == {"NORMAL": 240, "PNEUMONIA": 300}  # round(0.8 * 300)
    assert len(dup) == len(syn) and not is_synthetic(dup).any()
    assert torch.equal(dup.stored()[: len(real)], real.stored())  # the real split, then 140 drawn real NORMAL images
    extra = dup.subset(np.arange(len(real), len(dup)))
    assert (extra.labels == 0).all() and _rows_equal_some(extra.stored(), real.stored()[real.labels == 0])
    assert len(set(extra.paths)) < len(extra)  # drawn with replacement (140 draws from 100 images)
    again = arm_training_set(arms["duplicate"], real, {"gen": pool}, cfg)
    assert torch.equal(again.stored(), dup.stored())  # one fixed draw (sample_seed), shared by every seed


def test_finetune_pretrains_on_synthetic_only_then_real_only():
    real, pool = _set(100, 300), _pool(250, 200)
    cfg = AugmentConfig(generators={"gen": "unused"}, arms=["real", "finetune"], synthetic_only_fraction=0.5)
    (arm,) = [a for a in expand_arms(cfg) if a.kind == "finetune"]
    pre, fine = arm_stages(arm, real, {"gen": pool}, cfg)
    assert is_synthetic(pre).all() and pre.class_counts() == {"NORMAL": 50, "PNEUMONIA": 150}
    assert fine is real and not is_synthetic(fine).any()
    assert pool_sizes(real, [arm], cfg) == {"gen": {0: 50, 1: 150}}


def test_amount_sweep_adds_s_times_the_gap_and_s1_is_ratio_1():
    labels = torch.tensor([0] * 100 + [1] * 300 + [2] * 250)
    assert synthetic_counts_amount(labels, 3, 0.25) == {0: 50, 2: 12}  # 0.25 * 200, round(0.25 * 50)
    assert synthetic_counts_amount(labels, 3, 2.0) == {0: 400, 2: 100}
    assert synthetic_counts_amount(labels, 3, 1.0) == synthetic_counts_to_ratio(labels, 3, 1.0)
    real, pool = _set(100, 300), _pool(450, 10)
    cfg = AugmentConfig(generators={"gen": "unused"}, arms=["real", "sweep"], amounts=[0.5, 2.0])
    arms = {a.name: a for a in expand_arms(cfg)}
    assert list(arms) == ["real", "+gen x0.5", "+gen x2"]
    assert arm_training_set(arms["+gen x0.5"], real, {"gen": pool}, cfg).class_counts() == {
        "NORMAL": 200,
        "PNEUMONIA": 300,
    }
    assert arm_training_set(arms["+gen x2"], real, {"gen": pool}, cfg).class_counts() == {
        "NORMAL": 500,
        "PNEUMONIA": 300,
    }
    assert pool_sizes(real, list(arms.values()), cfg) == {"gen": {0: 400}}


def test_filtering_drops_the_samples_below_the_confidence():
    real, pool = _set(100, 300), _pool(400, 0)
    cfg = AugmentConfig(
        generators={"gen": "unused"}, arms=["real", "filtered"], filter_confidence=0.8, filter_oversample=2.0
    )
    (arm,) = [a for a in expand_arms(cfg) if a.kind == "filtered"]
    assert pool_sizes(real, [arm], cfg) == {"gen": {0: 400}}  # 2 x the 200 needed
    p_requested = np.where(np.arange(400) % 4 == 0, 0.5, 0.95)  # the classifier's p(NORMAL) per pool image
    passed = p_requested >= cfg.filter_confidence  # 300 of 400 pass
    out = arm_training_set(arm, real, {"gen": pool}, cfg, passed={"gen": passed})
    assert out.class_counts() == {"NORMAL": 300, "PNEUMONIA": 300}
    kept = out.subset(np.flatnonzero(is_synthetic(out)))
    keep_idx = [int(p.rsplit("/", 1)[1]) for p in kept.paths]
    assert (p_requested[keep_idx] >= 0.8).all() and len(set(keep_idx)) == 200
    assert torch.equal(kept.stored(), pool.stored()[np.flatnonzero(passed)[:200]])
    with pytest.raises(ConfigError, match="pass rate 0.20"):
        arm_training_set(arm, real, {"gen": pool}, cfg, passed={"gen": np.linspace(0, 1, 400) >= 0.8})
    with pytest.raises(ConfigError, match="not been labelled"):
        arm_training_set(arm, real, {"gen": pool}, cfg)


def test_new_arm_config_errors():
    with pytest.raises(ConfigError, match="amounts"):
        check_config(AugmentConfig(arms=["real", "sweep"], generators={"g": "x"}, amounts=[0.5, -1]))
    with pytest.raises(ConfigError, match="filter_confidence"):
        check_config(AugmentConfig(arms=["real", "filtered"], generators={"g": "x"}, filter_confidence=1.5))
    assert check_config(AugmentConfig(arms=["real", "duplicate"])).arms == ["real", "duplicate"]  # needs no generator
    with pytest.raises(ConfigError, match="workers=2 and ensemble=batched"):
        check_config(AugmentConfig(arms=["real"], workers=2, ensemble="batched"))
    with pytest.raises(ConfigError, match="workers='many' must be a whole number"):
        check_config(AugmentConfig(arms=["real"], workers="many"))
    assert check_config(AugmentConfig(arms=["real"], workers="auto")).workers == "auto"


# --------------------------------------------------------------------------- statistics across arms
def test_holm_against_hand_values():
    h = holm([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert h["adjusted"] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert h["reject"] == [True, False, False, True]  # step 3: 0.03 >= 0.05 / 2 stops the procedure
    assert h["level"] == pytest.approx([0.05 / 3, 0.05, 0.05 / 2, 0.05 / 4])
    n = holm([0.2, float("nan"), 0.001])  # a nan takes no part: m = 2
    assert n["adjusted"][0] == pytest.approx(0.2) and n["adjusted"][2] == pytest.approx(0.002)
    assert math.isnan(n["adjusted"][1]) and n["reject"] == [False, False, True]


def test_paired_t_pvalue_against_scipy():
    from scipy import stats

    d = np.array([0.03, -0.01, 0.02, 0.05, 0.01])
    assert paired_t_pvalue(d) == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, rel=1e-12)
    lo, hi = paired_interval(d, level=1 - 0.05 / 3)
    half = stats.t.ppf(1 - 0.05 / 6, 4) * d.std(ddof=1) / math.sqrt(5)
    assert (lo, hi) == pytest.approx((d.mean() - half, d.mean() + half))


def test_power_against_reference_values_and_simulation():
    from scipy import stats

    # G*Power / statsmodels TTestPower: paired t, d = 0.5, alpha 0.05 two-sided, power 0.8 -> 34 pairs,
    # actual power 0.8077775
    assert seeds_needed(0.5, 1.0) == 34
    assert paired_power(0.5, 1.0, 34) == pytest.approx(0.8077775, abs=1e-6)
    assert paired_power(0.0, 0.02, 7, alpha=0.05) == pytest.approx(0.05, abs=1e-12)  # no effect: the test's size
    mde = minimum_detectable_effect(0.02, 5, alpha=0.05)
    assert paired_power(mde, 0.02, 5) == pytest.approx(0.8, abs=1e-9)
    assert seeds_needed(mde, 0.02) == 5 and seeds_needed(mde * 0.99, 0.02) == 6
    # simulation: paired differences N(mde, 0.02^2), 5 seeds; the t-test rejects ~80 % of the time
    rng = np.random.default_rng(0)
    d = rng.normal(mde, 0.02, size=(40_000, 5))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(5))
    assert float((np.abs(t) > stats.t.ppf(0.975, 4)).mean()) == pytest.approx(0.8, abs=0.01)


def test_summary_gives_holm_intervals_and_power_across_arms():
    def row(arm, seed, bal):
        m = {"accuracy": bal, "balanced_accuracy": bal, "macro_f1": bal, "auroc": bal, "confusion_matrix": [[1]]}
        m.update({f"{k}/{c}": bal for k in ("precision", "recall", "f1") for c in ("N", "P")})
        return {"arm": arm, "kind": arm, "generator": None, "seed": seed, "train_counts": {"N": 1, "P": 1},
                "synthetic_in_train": 0, "epochs_run": 1, "test": m}  # fmt: skip

    base = [0.70, 0.72, 0.69, 0.71, 0.73]
    helps = [b + d for b, d in zip(base, [0.05, 0.06, 0.05, 0.07, 0.06])]
    hurts = [b - d for b, d in zip(base, [0.05, 0.04, 0.06, 0.05, 0.05])]
    noise = [b + d for b, d in zip(base, [0.03, -0.04, 0.01, -0.02, 0.02])]
    rows = [row(a, s, v) for a, vals in (("real", base), ("h", helps), ("x", hurts), ("n", noise))
            for s, v in enumerate(vals)]  # fmt: skip
    s = summarize(rows, ("N", "P"))
    assert s["compared"] == 3
    holm_reject = [s["arms"][a]["vs_baseline"]["balanced_accuracy"]["holm_reject"] for a in ("h", "x", "n")]
    assert holm_reject == [True, True, False]  # descriptive; the verdicts are the trial's (test_trial.py)
    v = s["arms"]["n"]["vs_baseline"]["balanced_accuracy"]
    d = np.array(noise) - np.array(base)
    assert v["p"] == pytest.approx(paired_t_pvalue(d)) and v["holm_low"] < 0 < v["holm_high"]
    pw = s["arms"]["n"]["power"]
    assert pw["sd_paired"] == pytest.approx(d.std(ddof=1))
    assert pw["mde"] == pytest.approx(minimum_detectable_effect(d.std(ddof=1), 5, alpha=0.05 / 3))
    assert pw["seeds_for_target"] == seeds_needed(0.02, d.std(ddof=1), alpha=0.05 / 3)
    md = summary_markdown({**s, "splits": {"train": {}, "val": {}, "test": {}}, "classifier": "c", "seeds": 5})
    assert all(f"| {a} |" in md for a in ("real", "h", "x", "n")) and "Pre-registered" not in md  # no trial


@pytest.mark.parametrize(
    "change, message",
    [
        ({"ratio": float("inf")}, "ratio=inf must be a finite number > 0"),
        ({"max_train": 1}, "max_train=1 must be at least 2 per class"),
        ({"max_train": 3}, "max_train=3 leaves fewer than 2 training images per class"),
    ],
    ids=["ratio-inf", "max-train-1", "max-train-3"],
)
def test_augment_settings_that_cannot_work_are_one_line_and_write_nothing(tmp_path, change, message):
    """Red team 2, item 9: ``ratio=inf`` and ``max_train=1`` ended in tracebacks."""
    from radgen.experiments.augment import load_augment_config, run_augment

    base = {"data": {"name": "pneumoniamnist", "val_from_train": 0.1}, "arms": ["real", "weighted"], "seeds": 1}
    with pytest.raises(ConfigError, match=re.escape(message)):
        cfg = load_augment_config({**base, **change, "output_dir": str(tmp_path / "runs")})
        run_augment(cfg, progress=False)
    assert not (tmp_path / "runs").exists()


def test_an_augment_that_fails_before_its_first_fit_leaves_no_half_folder(tmp_path, monkeypatch):
    """Red team 2, item 9: a failed augment left config.yaml and an empty results.jsonl."""
    import radgen.experiments.augment as aug

    cfg = aug.load_augment_config(
        {
            "data": {"name": "pneumoniamnist", "val_from_train": 0.1},
            "arms": ["real", "weighted"],
            "seeds": 1,
            "max_train": 64,
            "output_dir": str(tmp_path / "runs"),
        }
    )

    def broken(*args, **kwargs):
        raise RuntimeError("a fit that fails after the folder was made")

    monkeypatch.setattr(aug, "run_grid", broken)
    monkeypatch.setattr(aug, "train_seeds", broken)
    with pytest.raises(RuntimeError, match="after the folder was made"):
        aug.run_augment(cfg, progress=False)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
