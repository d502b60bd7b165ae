"""The privacy-utility table of ``radgen demo --budget full`` (issue 33, deliverable 4).

Each generator the demo trains that declares which of its networks see real images (``private_modules``; those
that refuse, e.g. a GAN with ADA or R1, or latent diffusion on a non-private autoencoder, are listed with the
model's own reason) is trained again, with the demo's config and epochs, under DP-SGD (Abadi et al. 2016; Opacus)
at each epsilon of ``PRIVACY_EPSILONS`` (delta ``PRIVACY_DELTA``, clipping norm ``PRIVACY_MAX_GRAD_NORM``); the
demo's own run is the epsilon = infinity row. Every row is evaluated with the demo's protocol: the FD ratio to the
real-vs-real floor under each view, label fidelity, and membership inference (black box and model based: AUC with
its bootstrap interval, TPR at 1 % FPR; Carlini et al. 2022). The utility column is the trial's Delta of its primary
endpoint for ``+G vs real`` (``experiments.trial``), from one augmentation trial holding every row's generator.

1. ``privacy_plan``: which generators can train privately, and why not the others (before anything trains);
2. ``privacy_row``: one row from an evaluation's metrics and the run's privacy record;
3. ``privacy_trial_config`` and ``utility_deltas``: the trial of ``+G vs real`` and each comparison's Delta;
4. ``run_privacy_utility``: train, evaluate, run the trial, write ``privacy_utility.json``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from radgen.errors import ConfigError
from radgen.io import write_json

PRIVACY_EPSILONS = (1.0, 8.0)  # the table: epsilon in {1, 8, infinity}; infinity is the demo's own run
PRIVACY_DELTA = 1e-5  # below 1 / N for the demo's training sets (a few thousand images)
PRIVACY_MAX_GRAD_NORM = 1.0  # per-image clipping norm C (Abadi et al. 2016 use 4; 1 is Opacus's examples' value)


def private_label(label: str, epsilon: float) -> str:
    """The name of ``label``'s run trained at ``epsilon`` (``cvae`` at 1 -> ``cvae_eps1``)."""
    return f"{label}_eps{epsilon:g}"


def privacy_override(epsilon: float) -> str:
    """The ``--set`` override that trains a run with DP-SGD to ``epsilon``."""
    # YAML reads 1e-05 as a string: floats are written with a point and a signed exponent (1.0e-05)
    eps, delta, clip = (f"{v:.6e}" for v in (epsilon, PRIVACY_DELTA, PRIVACY_MAX_GRAD_NORM))
    return f"train.privacy={{epsilon: {eps}, delta: {delta}, max_grad_norm: {clip}}}"


def privacy_trial_config(base, generators: dict[str, str], looks: dict[str, int]):
    """``base`` (an ``AugmentConfig``: data, judge, seeds, classifier training) turned into the utility trial: the
    ``real`` arm and ``+G`` for every generator (name -> run folder), each ``+G vs real`` a primary comparison."""
    from dataclasses import replace

    from radgen.experiments.trial import TrialConfig

    names = list(generators)
    return replace(
        base,
        generators=dict(generators),
        arms=["real", *(f"synthetic:{g}" for g in names)],
        trial=TrialConfig(primary=[f"+{g} vs real" for g in names], **looks),
    )


def privacy_plan(
    specs: dict[str, dict],
    image_size: int,
    channels: int,
    num_classes: int,
    *,
    epsilons: tuple[float, ...] | list[float] = PRIVACY_EPSILONS,
) -> dict[str, Any]:
    """``{"epsilons", "delta", "max_grad_norm", "capable": [labels], "not_capable": {label: the model's reason}}``
    for the generators' model specs (``specs``: label -> model config dict), each built at the data's size and asked
    for its private networks (``GenerativeModel.private_modules``, the contract the engine's DP-SGD uses)."""
    if not epsilons or not all(0 < e < float("inf") for e in epsilons):
        raise ConfigError(f"privacy epsilons {list(epsilons)}: give one or more finite numbers > 0, e.g. 1 and 8")
    from radgen.models import build_model
    from radgen.models.base import CapabilityError

    capable, refused = [], {}
    for label, spec in specs.items():
        model = build_model(spec, image_size=image_size, channels=channels, num_classes=num_classes)
        try:
            model.private_modules()
        except CapabilityError as exc:
            refused[label] = str(exc)
        else:
            capable.append(label)
    if capable and importlib.util.find_spec("opacus") is None:  # refused before the demo writes anything
        from radgen.training.privacy import OPACUS_HINT

        raise ConfigError(
            f"--budget full trains {', '.join(capable)} privately and needs Opacus: {OPACUS_HINT}, "
            "or run --budget demo"
        )
    return {
        "epsilons": [float(e) for e in epsilons],
        "delta": PRIVACY_DELTA,
        "max_grad_norm": PRIVACY_MAX_GRAD_NORM,
        "capable": capable,
        "not_capable": refused,
    }


def privacy_row(label: str, epsilon: float | None, metrics: dict[str, Any], run: str) -> dict[str, Any]:
    """One table row from ``evaluate_run``'s metrics of ``run`` (``epsilon`` None: trained without DP)."""
    from radgen.evaluation.result import EvaluationResult

    result = EvaluationResult(metrics)
    fd = {}
    for view in metrics["features"]:
        d = result.distance(view)
        fd[view] = {"FD": d.value, "floor": d.floor, "ratio": d.ratio}
    per_class = (metrics.get("label_fidelity") or {}).get("per_class") or {}
    fidelity = {c: v["generated"] for c, v in per_class.items()}
    mi = metrics["privacy"]["membership_inference"]
    attacks = {
        k: {f: mi[k].get(f) for f in ("attack", "auc", "auc_ci95", "tpr_at_0.01_fpr", "n_members")}
        for k in ("black_box", "model_based")
        if k in mi
    }
    dp = metrics.get("training_privacy") or {}
    if (epsilon is None) != (not dp):
        raise ConfigError(f"{run}: asked for epsilon {epsilon}, but its privacy record is {dp or 'absent'}")
    return {
        "generator": label,
        "epsilon": epsilon,
        "epsilon_spent": dp.get("epsilon_spent"),
        "delta": dp.get("delta"),
        "noise_multiplier": dp.get("noise_multiplier"),
        "fd": fd,
        "label_fidelity": {
            "per_class": fidelity,
            "mean": sum(fidelity.values()) / len(fidelity) if fidelity else None,
        },
        "membership_inference": attacks,
        "run": run,
    }


def utility_deltas(augment_summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{arm: {"endpoint", "margin", "diff", "low", "high", "level", "verdict", "seeds"}}`` for every ``ARM vs real``
    comparison of the trial (primary or secondary family) in an augmentation's ``results.json``."""
    out = {}
    for rows in augment_summary["trial"]["families"].values():
        for r in rows:
            if r["b"] != "real":
                continue
            e = r["endpoint"]
            c = r["endpoints"][e]
            out[r["a"]] = {
                "endpoint": e,
                "margin": r.get("delta"),  # the pre-registered equivalence margin the verdict is read against
                "diff": c["diff"],
                "low": c.get("low"),
                "high": c.get("high"),
                "level": c.get("level"),
                "verdict": r["verdict"],
                "seeds": r["seeds"],
            }
    return out


def run_privacy_utility(
    plan: dict[str, Any],
    out: Path,
    *,
    baseline: dict[str, tuple[str, dict[str, Any]]],
    train_private: Callable[[str, str, float], Path],
    evaluate: Callable[[Path], dict[str, Any]],
    run_trial: Callable[[dict[str, str], Path], dict[str, Any]],
) -> dict[str, Any]:
    """The table for ``plan`` (``privacy_plan``'s result) into ``out`` (``privacy_utility.json`` there).

    ``baseline``: label -> (run folder, metrics) of the demo's own runs (the epsilon = infinity rows);
    ``train_private(label, name, epsilon)`` trains label's config under DP-SGD and returns its run folder;
    ``evaluate(run_dir)`` gives its metrics with the demo's protocol; ``run_trial(generators, out_dir)`` runs the
    augmentation trial of ``+G vs real`` for every generator (name -> run folder) and returns its summary."""
    from radgen.runfolder import DEMO_AUGMENT, DEMO_PRIVACY_RESULTS

    out.mkdir(parents=True, exist_ok=True)
    trial_dir = out / DEMO_AUGMENT
    rows, generators = [], {}
    for label in plan["capable"]:
        for eps in plan["epsilons"]:
            name = private_label(label, eps)
            run_dir = train_private(label, name, eps)
            rows.append(privacy_row(label, eps, evaluate(run_dir), str(run_dir)))
            generators[name] = str(run_dir)
        run_dir, metrics = baseline[label]
        rows.append(privacy_row(label, None, metrics, str(run_dir)))
        generators[label] = str(run_dir)
    deltas = utility_deltas(run_trial(generators, trial_dir)) if generators else {}
    for r in rows:
        name = r["generator"] if r["epsilon"] is None else private_label(r["generator"], r["epsilon"])
        r["utility"] = deltas.get(f"+{name}")
    result = {**plan, "rows": rows, "trial": str(trial_dir) if generators else None}
    write_json(out / DEMO_PRIVACY_RESULTS, result)
    return result
