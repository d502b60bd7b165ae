"""``evaluate_run``: the evaluation protocol on an exported run, into a fresh ``RUN/eval-<time>-<id>/`` folder.

It writes ``metrics.json`` (``radgen.evaluation.result.EvaluationResult`` reads it), ``memorization.png`` and
``features.npz`` (per view and extractor seed, for rank probabilities: ``radgen.evaluation.ranking``),
and computes the budget the run trained (``trained_budget``); ``radgen.reports.evaluation`` renders
``metrics.md``. The steps are ``radgen.evaluation.protocol``'s, then reconstruction, likelihood and cost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from radgen import runfolder
from radgen.data import DataConfig
from radgen.data.base import DataSplits
from radgen.errors import ConfigError
from radgen.evaluation.protocol import (
    DEFAULT_FEATURES,
    EXTRACTOR_SEEDS,
    FIDELITY_CLASSIFIER,
    evaluate_generator,
    generate_like,
)
from radgen.evaluation.ranking import save_features
from radgen.io import write_json
from radgen.metrics.memorization import closest_pairs_figure
from radgen.metrics.privacy_eval import add_model_based
from radgen.models import load_exported
from radgen.progress import Steps
from radgen.runfolder import RunFolder, load_run_data, trained_budget

MIN_EVAL_IMAGES = 10  # the copy-ratio test's held-out minimum (metrics.memorization), above PRDC's k = 5


def _load_run_data(run_dir: Path, model, real: str | None) -> tuple[DataConfig, DataSplits]:
    """The run's data config and all its splits (``runfolder.load_run_data``, which checks the model's size)."""
    data = load_run_data(run_dir, model, data=real, split="train", option="--real")
    return data.config, data.splits


@torch.no_grad()
def evaluate_run(
    run_dir: str | Path,
    *,
    real: str | None = None,
    n: int = 1000,
    features: tuple[str, ...] = DEFAULT_FEATURES,
    seed: int = 0,
    bootstrap: int = 50,
    inception_weights: str | None = None,
    extractor_epochs: int = 8,
    reference: str = "auto",
    shifted_test: bool = True,
    allow_changed_data: bool = False,
    extractor_seeds: int = EXTRACTOR_SEEDS,
    progress: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Evaluate an exported run (see the module docstring); returns (eval folder, metrics). The run's own training
    split is compared with its split manifest first: a change is refused unless ``allow_changed_data``, then it is
    recorded in the metrics (``data_changed_since_training``). ``extractor_seeds``: K extractors per trained view
    (``radgen.evaluation.protocol``); their per-seed features go to ``features.npz`` (``evaluation.ranking``).
    ``progress``: each step's start is shown (``radgen.progress.Steps``: a bar on a terminal, a line each
    elsewhere)."""
    run_dir = Path(run_dir)
    if n < MIN_EVAL_IMAGES:
        raise ConfigError(
            f"--n {n} must be at least {MIN_EVAL_IMAGES}: the copy-ratio test needs {MIN_EVAL_IMAGES} held-out "
            "images and PRDC (k = 5) more than 5 per set"
        )
    if extractor_seeds < 1:
        raise ConfigError(f"--extractor-seeds {extractor_seeds} must be at least 1 (3 counts their spread)")
    model, meta = load_exported(run_dir)
    dcfg, ds = _load_run_data(run_dir, model, real)
    changed = None
    if real is None:  # the run's own data: is it still what the run trained on?
        from radgen.data.manifest import check_unchanged

        manifest = run_dir / runfolder.SPLIT_MANIFEST
        changed = check_unchanged(manifest, ds["train"], allow=allow_changed_data, run=run_dir)
    conditional = bool(model.supports_labels)
    extractors = len(features) + (1 if conditional and FIDELITY_CLASSIFIER not in features else 0)
    steps = Steps(f"evaluate {run_dir.name}", 4 + extractors + (model.encoding != "none"), progress=progress)
    metrics, used = evaluate_generator(
        lambda labels, s: generate_like(model, labels, seed=s),
        ds,
        conditional=conditional,
        data_config=dcfg,
        n=n,
        features=features,
        seed=seed,
        bootstrap=bootstrap,
        reference=reference,
        shifted_test=shifted_test,
        inception_weights=inception_weights,
        extractor_epochs=extractor_epochs,
        extractor_seeds=extractor_seeds,
        step=steps.step,
    )
    out: dict[str, Any] = {"run": str(run_dir), "model": model.config.name, **metrics}
    if changed is not None:
        out["data_changed_since_training"] = changed
    steps.step("model-based membership inference")
    add_model_based(out["privacy"], model, ds, used["sets"].reference, bootstrap=bootstrap, seed=seed)  # privacy
    if (dp := RunFolder(run_dir).run_info).is_file() and json.loads(dp.read_text()).get("privacy"):
        out["training_privacy"] = json.loads(dp.read_text())["privacy"]  # DP-SGD: epsilon spent
    # 6. reconstruction, likelihood, cost, budget
    if model.encoding != "none":
        from radgen.metrics.reconstruction import reconstruction_metrics

        steps.step("reconstruction" + (" and likelihood" if model.likelihood else ""))

        sub = used["sets"].reference
        out["reconstruction"] = {**reconstruction_metrics(model, sub), "split": out["real_split"]}
        if model.likelihood:  # an explicit likelihood and prior: ELBO terms and IWAE
            from radgen.metrics.likelihood import elbo_terms, iwae_bound

            out["likelihood"] = {"elbo_terms": elbo_terms(model, sub, seed=seed), "split": out["real_split"]}
            try:
                out["likelihood"]["iwae_k50"] = iwae_bound(
                    model, sub.subset(list(range(min(200, len(sub))))), k=50, seed=seed
                )
            except Exception as exc:  # not a density (L1/MSE models): say why instead of a number
                out["likelihood"]["iwae_k50"] = {"skipped": str(exc)}
    summary_path = RunFolder(run_dir).summary
    out["cost"] = {"parameters": sum(p.numel() for p in model.parameters())}
    if summary_path.is_file():
        s = json.loads(summary_path.read_text())
        out["cost"].update(
            {
                "seconds_per_epoch": s.get("seconds_per_epoch"),
                "epochs_run": s.get("epochs_run"),
                "train_seconds": s.get("train_seconds"),
            }
        )
    out["budget"] = trained_budget(run_dir)

    folder = RunFolder(run_dir).new_evaluation()
    closest_pairs_figure(used["generated"], used["train"], used["memo"], folder / runfolder.EVAL_MEMORIZATION)
    save_features(folder, used["features"])  # per seed: what rank probabilities between generators pair on
    write_json(folder / runfolder.EVAL_SUMMARY, out)
    steps.close()
    return folder, out
