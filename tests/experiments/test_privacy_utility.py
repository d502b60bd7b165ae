"""The privacy-utility stage of ``radgen demo --budget full`` (issue 33, deliverable 4): which of the demo's generators
can train privately (the model's own answer), the table's rows from real tiny runs, evaluations and a trial, and the
report's section."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("opacus")

from radgen.errors import ConfigError  # noqa: E402
from radgen.experiments.demo import DemoSettings, demo_plan, generator_specs  # noqa: E402
from radgen.experiments.privacy_utility import (  # noqa: E402
    PRIVACY_EPSILONS,
    privacy_override,
    privacy_plan,
    privacy_trial_config,
    run_privacy_utility,
)
from radgen.reports.privacy import privacy_markdown, tpr_bound  # noqa: E402

CVAE = "model={name: cvae, latent_dim: 4, widths: [8, 16], conditional: one_hot}"


def test_only_the_full_budget_plans_the_table_and_each_generator_answers_for_itself():
    assert demo_plan(DemoSettings(budget="demo"))["privacy_epsilons"] == []
    assert demo_plan(DemoSettings(quick=True))["privacy_epsilons"] == []
    plan = demo_plan(DemoSettings(budget="full"))
    assert plan["privacy_epsilons"] == list(PRIVACY_EPSILONS) == [1.0, 8.0]
    p = privacy_plan(generator_specs(plan), 64, 1, 2)
    assert p["capable"] == ["cvae"]  # the demo's GAN uses ADA and R1; its latent diffusion a non-private autoencoder
    assert "ADA" in p["not_capable"]["lsgan"] and "autoencoder" in p["not_capable"]["ldm"]
    assert set(p["capable"]) | set(p["not_capable"]) == set(plan["generators"])
    assert p["epsilons"] == [1.0, 8.0] and privacy_plan({}, 64, 1, 2, epsilons=[8])["epsilons"] == [8.0]
    with pytest.raises(ConfigError, match="finite numbers > 0"):
        privacy_plan({}, 64, 1, 2, epsilons=[float("inf")])


def test_without_opacus_the_full_budget_is_refused_before_anything_is_written(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "opacus" else real(name, *a))
    plan = demo_plan(DemoSettings(budget="full"))
    with pytest.raises(ConfigError, match=r"needs Opacus: pip install 'radgen\[privacy\]'.*--budget demo"):
        privacy_plan(generator_specs(plan), 64, 1, 2)
    assert privacy_plan({}, 64, 1, 2)["capable"] == []  # nothing to train privately: nothing needs Opacus


def test_the_tpr_bound_is_dps_hypothesis_testing_limit():
    assert tpr_bound(1.0, 1e-5) == pytest.approx(math.e * 0.01 + 1e-5, rel=1e-12)  # 0.027
    assert tpr_bound(8.0, 1e-5) == 1.0 and tpr_bound(None, None) == 1.0  # vacuous at epsilon 8 and without DP


def test_the_stage_builds_its_rows_from_real_runs_evaluations_and_a_trial(tmp_path, data_dir):
    """A tiny CVAE at epsilon 8 and without DP (3 steps each), evaluated at n = 40 under one view, and a 2-seed trial
    of +G vs real: every cell of the table is the evaluation's or the trial's own number."""
    from radgen.evaluation import evaluate_run
    from radgen.experiments.augment import load_augment_config, run_augment
    from radgen.training import load_run_config, train

    def fit(name: str, *extra: str):
        sets = [
            CVAE,
            f"name={name}",
            f"output_dir={tmp_path / 'runs'}",
            "train.progress_bar=false",
            "train.epochs=1",
            "train.batch_size=256",
            "train.limit_train_batches=3",
            "train.limit_val_batches=1",
            "train.sample_every=0",
            "train.checkpoint_every=0",
            *extra,
        ]
        return train(load_run_config("tiny", sets), progress=False).run_dir

    evaluated = {}

    def evaluate(run_dir):
        _, m = evaluate_run(
            run_dir, n=40, bootstrap=2, features=("radgen-cnn001",), extractor_epochs=1, shifted_test=False
        )
        evaluated[str(run_dir)] = m
        return m

    base_trial = load_augment_config(  # the demo's arms config stands in: its judge, 2 seeds, 64 images, 1 epoch
        {
            "data": {"name": "pneumoniamnist", "val_from_train": 0.1},
            "arms": ["real", "weighted"],
            "judge": "cnn001",
            "seeds": 2,
            "max_train": 64,
            "train": {"epochs": 1},
        }
    )

    def run_trial(generators, out_dir):
        cfg = privacy_trial_config(base_trial, generators, {"first_look": 2, "look_every": 1})
        return run_augment(cfg, out_dir=out_dir, progress=False)[1]

    base = fit("cvae")
    plan = privacy_plan({"cvae": {"name": "cvae"}}, 28, 1, 2, epsilons=[8.0])
    result = run_privacy_utility(
        plan,
        tmp_path / "privacy",
        baseline={"cvae": (str(base), evaluate(base))},
        train_private=lambda label, name, eps: fit(name, privacy_override(eps)),
        evaluate=evaluate,
        run_trial=run_trial,
    )
    assert result == json.loads((tmp_path / "privacy" / "privacy_utility.json").read_text())
    dp, plain = result["rows"]
    assert (dp["epsilon"], plain["epsilon"]) == (8.0, None) and plain["epsilon_spent"] is None
    run_info = json.loads((Path(dp["run"]) / "run.json").read_text())
    assert dp["epsilon_spent"] == run_info["privacy"]["epsilon_spent"] and 0 < dp["epsilon_spent"] <= 8.1
    for row in (dp, plain):
        m = evaluated[row["run"]]
        ens = m["features"]["radgen-cnn001"]["ensemble"]["reference"]  # the demo's FD: the ensemble's (issue 34)
        fd = row["fd"]["radgen-cnn001"]
        assert fd["ratio"] == ens["ratio"] and fd["FD"] == ens["generated"]["FD"]
        assert fd["ratio"] == pytest.approx(fd["FD"] / fd["floor"], rel=1e-6)
        mi = m["privacy"]["membership_inference"]
        for attack in ("black_box", "model_based"):
            assert row["membership_inference"][attack]["auc"] == mi[attack]["auc"]
        per_class = m["label_fidelity"]["per_class"]
        assert row["label_fidelity"]["mean"] == pytest.approx(
            sum(v["generated"] for v in per_class.values()) / len(per_class)
        )
    trial = json.loads((tmp_path / "privacy" / "augment" / "results.json").read_text())["trial"]["families"]
    primary = {r["a"]: r for r in trial["primary"]}
    assert set(primary) == {"+cvae_eps8", "+cvae"}
    for name, row in (("+cvae_eps8", dp), ("+cvae", plain)):
        assert row["utility"]["diff"] == primary[name]["endpoints"]["auroc"]["diff"]
        assert row["utility"]["verdict"] == primary[name]["verdict"] and row["utility"]["seeds"] == 2
        assert row["utility"]["margin"] == primary[name]["delta"]  # the pre-registered margin, from the trial
    md = "\n".join(privacy_markdown(result))
    assert md.count("| cvae |") == 2 and "8 / " in md and "inf (no DP)" in md and "Delta of +cvae vs real" in md
    assert md.count(f"(auroc, margin ±{primary['+cvae']['delta']:g}: ") == 2 * 2  # each row's cell and its reading
