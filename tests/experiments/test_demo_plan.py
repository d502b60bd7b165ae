"""``radgen demo --budget full`` and the demo's settings: what it plans to run, and what it refuses before writing."""

from __future__ import annotations

import pytest

from radgen.cli import main
from radgen.experiments.augment import ARM_KINDS
from radgen.experiments.demo import (
    DEMO_ARMS,
    DEMO_JUDGE,
    DEMO_SEEDS,
    FIRST_STAGES,
    FULL_EPOCH_FACTOR,
    FULL_SEEDS,
    GENERATORS,
    JUDGE_REFERENCE,
    DemoSettings,
    demo_plan,
    judge_note,
)
from radgen.training.config import load_run_config

ARMS_WITH_FINETUNE = ["real", "synthetic", "duplicate", "finetune:lsgan"]  # the gate moves finetune:G


def test_full_budget_trains_each_generator_longer_and_runs_every_arm_over_more_seeds():
    demo, full = demo_plan(DemoSettings()), demo_plan(DemoSettings(budget="full"))
    assert demo["arms"] == DEMO_ARMS and demo["seeds"] == DEMO_SEEDS == 15  # the most; looks stop it earlier
    assert full["arms"] == list(ARM_KINDS) and full["seeds"] == FULL_SEEDS == 10
    assert set(full["arms"]) > set(DEMO_ARMS)
    assert demo["arms_budget_seconds"] == 570 and full["arms_budget_seconds"] is None
    for label, config in GENERATORS.items():
        epochs = load_run_config(config, []).train.epochs
        first = {"first_stage": {"config": FIRST_STAGES[label], "train": {}}} if label in FIRST_STAGES else {}
        assert demo["generators"][label] == {"config": config, "train": {}, **first}
        assert full["generators"][label]["train"] == {"epochs": FULL_EPOCH_FACTOR * epochs}
    # the latent diffusion model's autoencoder trains first, and longer in the full study too
    ae_epochs = load_run_config(FIRST_STAGES["ldm"], []).train.epochs
    assert full["generators"]["ldm"]["first_stage"]["train"] == {"epochs": FULL_EPOCH_FACTOR * ae_epochs}
    assert demo_plan(DemoSettings(budget="full", seeds=4))["seeds"] == 4
    assert demo_plan(DemoSettings(judge="resnet18"))["judge"] == "resnet18"


def test_quick_plan_is_the_smoke_budget():
    plan = demo_plan(DemoSettings(quick=True))
    for g in plan["generators"].values():
        assert g["train"]["epochs"] == 1 and g["train"]["limit_train_batches"] == 6
    first = plan["generators"]["ldm"]["first_stage"]["train"]  # an autoencoder draws no sample grids
    assert first["epochs"] == 1 and first["limit_train_batches"] == 6 and "sample_every" not in first
    cuda = demo_plan(DemoSettings(device="cuda"))  # the plan only; check_settings refuses a missing device
    assert all(g["train"]["accelerator"] == "cuda" for g in cuda["generators"].values())
    assert cuda["generators"]["ldm"]["first_stage"]["train"] == {"accelerator": "cuda"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--quick", "--budget", "full"], "--quick and --budget full contradict"),
        (["--judge", "vgg"], "--judge 'vgg' is not a judge; valid: cnn001, resnet18"),
        (["--device", "cuda:7"], "no such CUDA device"),
        (["--device", "tpu"], "is not a device"),
        (["--seeds", "0"], "--seeds 0 must be at least 1"),
        (["--extractor-seeds", "0"], "--extractor-seeds 0 must be at least 1"),
    ],
)
def test_settings_that_cannot_work_are_refused_before_anything_is_written(tmp_path, capsys, args, message):
    out = tmp_path / "runs"
    assert main(["demo", *args, "--output-dir", str(out), "--data-dir", str(tmp_path / "nokit")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_the_fidelity_gate_leaves_out_generators_at_or_below_chance_and_moves_finetune():
    from radgen.experiments.demo import fidelity_gate, gated_arms

    fid = {"cvae": 0.36, "lsgan": 0.72, "ldm": 0.0}  # lowest per-class fidelity (cvae, lsgan: as the demo measured)
    gate = fidelity_gate(fid, 2)
    assert gate["threshold"] == 0.5 and gate["mixed_in"] == ["lsgan"]
    assert set(gate["left_out"]) == {"cvae", "ldm"} and "0.36 is not above chance (0.50)" in gate["left_out"]["cvae"]
    assert gated_arms(ARMS_WITH_FINETUNE, gate["mixed_in"], fid) == [
        "real",
        "synthetic:lsgan",
        "duplicate",
        "finetune:lsgan",
    ]
    # the GAN left out: finetune moves to the mixed-in generator of highest fidelity; none mixed in: it goes
    assert gated_arms(ARMS_WITH_FINETUNE, ["cvae", "ldm"], fid) == [
        "real",
        "synthetic:cvae",
        "synthetic:ldm",
        "duplicate",
        "finetune:cvae",
    ]
    assert gated_arms(ARMS_WITH_FINETUNE, [], fid) == ["real", "duplicate"]
    assert fidelity_gate({"cvae": 0.5}, 2)["mixed_in"] == ["lsgan", "ldm"]  # exactly chance is out; no fidelity: in
    assert fidelity_gate(fid, 2, quick=True)["mixed_in"] == list(GENERATORS)  # the smoke run exercises every arm
    assert fidelity_gate({"cvae": 0.4}, 3)["mixed_in"] == list(GENERATORS)  # chance is 1/3 with 3 classes


def _ranking(winners: dict[tuple[str, str], str | None], p: dict[tuple[str, str], float]) -> dict:
    """A ``rank_generators`` result written by hand: P(FD_a < FD_b) under two views, the winner where both reach
    0.95 (or both reach 0.95 for b)."""
    pairs = []
    for (a, b), w in winners.items():
        pairs.append(
            {"a": a, "b": b, "p": {"cnn": p[(a, b)], "ae": p[(a, b)]}, "winner": w, "statement": f"{a} vs {b}: {w}"}
        )
    return {"views": ["cnn", "ae"], "pairs": pairs}


SEPARATED = _ranking(  # cvae before lsgan before ldm under both views
    {("cvae", "lsgan"): "cvae", ("cvae", "ldm"): "cvae", ("lsgan", "ldm"): "lsgan"},
    {("cvae", "lsgan"): 0.99, ("cvae", "ldm"): 1.0, ("lsgan", "ldm"): 0.97},
)
UNSEPARATED = _ranking(  # cvae first, lsgan and ldm not separated
    {("cvae", "lsgan"): "cvae", ("cvae", "ldm"): "cvae", ("lsgan", "ldm"): None},
    {("cvae", "lsgan"): 0.99, ("cvae", "ldm"): 1.0, ("lsgan", "ldm"): 0.6},
)


def test_the_demo_mixes_in_the_generator_separated_first_under_every_view():
    from radgen.experiments.demo import (
        DEMO_MAX_MIXED_IN,
        RULE_SEPARATED,
        choose_generator,
        fidelity_gate,
        gated_arms,
        limit_mixed_in,
    )

    fid = {"cvae": 0.6, "lsgan": 0.7, "ldm": 0.9}  # every one passes; ldm has the highest fidelity
    gate = fidelity_gate(fid, 2)
    choice = choose_generator(gate["mixed_in"], SEPARATED, fid)
    assert choice["chosen"] == "cvae" and choice["rule"] == RULE_SEPARATED  # separation wins over fidelity
    assert "cvae vs lsgan: cvae" in choice["why"] and "cvae vs ldm: cvae" in choice["why"]
    capped = limit_mixed_in(gate, choice, DEMO_MAX_MIXED_IN)
    assert DEMO_MAX_MIXED_IN == 1 and capped["mixed_in"] == ["cvae"] and capped["choice"] == choice
    assert "chose cvae (separated best)" in capped["left_out"]["ldm"] and set(capped["left_out"]) == {"lsgan", "ldm"}
    assert gated_arms(ARMS_WITH_FINETUNE, capped["mixed_in"], fid) == ["real", "synthetic:cvae", "duplicate",
                                                                       "finetune:cvae"]  # fmt: skip
    # --budget full (no cap) and the quick run keep every gated generator, and still name the chosen one
    assert limit_mixed_in(gate, choice, None)["mixed_in"] == ["cvae", "lsgan", "ldm"]
    assert limit_mixed_in(gate, choice, 1, quick=True)["mixed_in"] == ["cvae", "lsgan", "ldm"]


def test_without_separation_the_demo_falls_back_to_the_highest_lowest_class_fidelity():
    from radgen.experiments.demo import RULE_FALLBACK, RULE_SEPARATED, choose_generator, fidelity_gate

    fid = {"cvae": 0.3, "lsgan": 0.7, "ldm": 0.9}  # cvae fails the gate (chance 0.5)
    gate = fidelity_gate(fid, 2)
    assert gate["mixed_in"] == ["lsgan", "ldm"]
    choice = choose_generator(gate["mixed_in"], UNSEPARATED, fid)
    assert choice["chosen"] == "ldm" and choice["rule"] == RULE_FALLBACK
    assert "lsgan vs ldm: None" in choice["why"] and "lsgan 0.70, ldm 0.90" in choice["why"]
    # the other way round: the fidelity decides, not the order
    flipped = {**fid, "lsgan": 0.95}
    assert choose_generator(gate["mixed_in"], UNSEPARATED, flipped)["chosen"] == "lsgan"
    # separated among the gated ones: lsgan before ldm decides, although ldm's fidelity is higher
    sep = choose_generator(gate["mixed_in"], SEPARATED, fid)
    assert sep["chosen"] == "lsgan" and sep["rule"] == RULE_SEPARATED


def test_a_generator_that_fails_the_gate_is_never_chosen():
    from radgen.experiments.demo import RULE_ONLY, choose_generator, fidelity_gate, limit_mixed_in

    fid = {"cvae": 0.1, "lsgan": 0.2, "ldm": 0.8}  # cvae is separated first, but cvae and lsgan fail the gate
    gate = fidelity_gate(fid, 2)
    for ranking in (SEPARATED, UNSEPARATED, None):
        choice = choose_generator(gate["mixed_in"], ranking, fid)
        assert choice["chosen"] == "ldm" and choice["rule"] == RULE_ONLY
        assert limit_mixed_in(gate, choice, 1)["mixed_in"] == ["ldm"]
    none = choose_generator([], SEPARATED, fid)
    assert none["chosen"] is None and "no generator passed" in none["why"]


def test_a_size_the_latent_model_cannot_take_is_refused_before_training():
    """28 px gives 7x7 latents, which demo_ldm's 3-level UNet cannot halve twice; 32 and 64 px work."""
    from radgen.errors import ConfigError
    from radgen.experiments.demo import check_generators

    plan = demo_plan(DemoSettings())
    with pytest.raises(ConfigError, match=r"generator ldm \(demo_ldm\) cannot run at 28 px: .*--size 32 or --size 64"):
        check_generators(plan, (28, 28), 1, 2)
    for size in (32, 64):
        check_generators(plan, (size, size), 1, 2)


def test_the_demo_on_28_px_data_says_to_resize_and_writes_nothing(tmp_path, capsys, data_dir):
    out = tmp_path / "runs"
    assert main(["demo", "--data", "pneumoniamnist", "--output-dir", str(out), "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("radgen: error:") and "cannot run at 28 px" in err[-1] and "--size 32" in err[-1]
    assert not out.exists()


def test_the_report_states_the_demo_judge_beside_the_strong_judges_measured_scores():
    from radgen.reports import _judge_lines
    from radgen.reports.markdown import code

    note = judge_note(DEMO_JUDGE, "chest_xray_full_64", quick=False)
    assert note["name"] == "cnn001" and "10 minutes" in note["why"]
    ref = note["strong_judge_reference"]
    assert ref["judge"] == "resnet18" and ref is JUDGE_REFERENCE["chest_xray_full_64"]
    (line, blank) = _judge_lines(note)
    acc, acc_sd = ref["test"]["accuracy"]
    assert line.startswith(f"Judge: {code('cnn001')}") and f"strong judge {code('resnet18')}" in line and blank == ""
    assert f"accuracy {acc:.3f} ± {acc_sd:.3f}" in line and "NORMAL recall 0." in line and "AUROC 0.9" in line
    assert (
        "radgen classify --data chest\\_xray\\_full\\_64" in line
        or "radgen classify --data chest_xray_full_64" in line
    )
    # no reference where none was measured, or when the strong judge is the one that ran
    assert judge_note("cnn001", "pneumoniamnist", quick=False)["strong_judge_reference"] is None
    assert judge_note("resnet18", "chest_xray_full_64", quick=False)["strong_judge_reference"] is None
    assert _judge_lines(judge_note("resnet18", "chest_xray_full_64", quick=False)) == [
        f"Judge: {code('resnet18')}, the judge asked for (--judge).",
        "",
    ]
    assert _judge_lines(None) == []
    # the reference was measured on chest_xray_full_64 at 64 px from its default place: nothing else gets it
    for other in ({"quick": True}, {"quick": False, "size": (32, 32)}, {"quick": False, "path": "/elsewhere.npz"}):
        assert judge_note("cnn001", "chest_xray_full_64", **other)["strong_judge_reference"] is None, other
    full = judge_note("cnn001", "chest_xray_full_64", quick=False, budget="full")
    assert full["strong_judge_reference"] is ref and "longer study" in full["why"]
