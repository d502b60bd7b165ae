"""The evaluation protocol for any sampler (``evaluate_generator``): steps 1-5 of ``radgen.evaluation``.

Computes only: a dict that ``metrics.json`` holds and ``radgen.evaluation.result.EvaluationResult`` reads;
``radgen.reports.evaluation`` renders it. Every metric registered in ``radgen.metrics.set_metrics.SET_METRICS``
is computed for the generated set and the floor against the reference (``pixels.metrics``).

Extractor ensembles (issue 34): a trained view (``SEEDED_FEATURES``) is trained ``extractor_seeds`` times (seeds
0..K-1, each cached and hashed by ``radgen.metrics.features``); every other view has K = 1. Each view's FD of the
generated set and of the floor, against the reference, per class and against the shifted test, is reported in
``features.<view>.ensemble`` as the mean over the K extractors with the two-level bootstrap interval of
``radgen.metrics.ranking.ensemble_fd`` (seeds, then the real and generated sets resampled; bias-shifted), the floor
computed the same way, and the ratio of the means; the flat keys (``FD_<view>``, ``_ci95``, ``_floor``,
``_ratio``) hold these. KD, precision/recall/density/coverage, memorization and label fidelity are seed 0's
(``features.<view>.reference``, the protocol's block with the floor's re-draw range).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radgen.config import to_dict
from radgen.data import DataConfig
from radgen.data.base import DataSplits
from radgen.errors import ConfigError
from radgen.evaluation.sets import ProtocolSets, build_sets, counts_of
from radgen.metrics.distances import bootstrap_interval
from radgen.metrics.diversity import pairwise_ms_ssim
from radgen.metrics.features import get_extractor
from radgen.metrics.memorization import copy_ratio_report, memorization_report
from radgen.metrics.mmd import mmd
from radgen.metrics.privacy_eval import privacy_block
from radgen.metrics.protocol import compare, compare_per_class, label_fidelity
from radgen.metrics.ranking import ensemble_fd_with_floor
from radgen.metrics.set_metrics import compute_set_metrics
from radgen.sampling import generate

DEFAULT_FEATURES = ("radgen-cnn001", "radgen-ae001")
FIDELITY_CLASSIFIER = "radgen-cnn001"  # its classifier head labels the samples (label fidelity)
SEEDED_FEATURES = ("radgen-cnn001", "radgen-ae001")  # views trained by radgen: one extractor per seed (issue 34)
# K, the trainings per view in SEEDED_FEATURES by default: two trainings of one extractor moved an FD by half
# its value, so one extractor cannot rank generators; each seed is trained once and cached
EXTRACTOR_SEEDS = 3

Sampler = Callable[[torch.Tensor, int], torch.Tensor]  # (requested labels (N,), seed) -> (N, C, H, W) in [0, 1]


def generate_like(model, labels: torch.Tensor, *, seed: int, **sample_kwargs) -> torch.Tensor:
    """``len(labels)`` samples; a conditional model's i-th sample is asked for ``labels[i]``.

    ``sample_kwargs`` go to the model's sampler (e.g. ``sampler="ddim", steps=50`` for a diffusion model)."""
    if not model.supports_labels:
        return generate(model, len(labels), seed=seed, progress=False, **sample_kwargs)
    out = None
    for c in labels.unique().tolist():
        where = (labels == c).nonzero().squeeze(1)
        x = generate(model, len(where), label=int(c), seed=seed + int(c), progress=False, **sample_kwargs)
        out = x.new_empty((len(labels), *x.shape[1:])) if out is None else out
        out[where] = x
    return out


def inception_score(probs: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016) from class probabilities."""
    p = probs.double().clamp(min=1e-12)
    py = p.mean(0, keepdim=True)
    return float(torch.exp((p * (p.log() - py.log())).sum(1).mean()))


def mmd_with_floor(
    real: torch.Tensor,
    floor: torch.Tensor,
    fake: torch.Tensor,
    draws: Sequence[torch.Tensor] = (),
    *,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict:
    """Pixel MMD^2 of G and of the floor F against R, at one bandwidth (median heuristic on R and F pooled);
    G's interval by percentile bootstrap, the floor's as the range over re-drawn floor sets ``draws``."""
    sigma = mmd(floor, real)["sigma"]

    def m2(a, b) -> float:
        return mmd(torch.as_tensor(b), torch.as_tensor(a), sigma=sigma)["mmd2"]

    out = {
        "generated": mmd(fake, real, sigma=sigma),
        "floor": mmd(floor, real, sigma=sigma),
        "sigma": sigma,
        "sigma_rule": "median heuristic on the reference and floor sets pooled; the same bandwidth for the generator",
    }
    n = min(bootstrap, 20)
    if n >= 2:
        r, g = (t.reshape(len(t), -1).double().numpy() for t in (real, fake))
        out["generated"]["ci95"] = bootstrap_interval(m2, r, g, n=n, seed=seed)
    if len(draws) >= 2:
        vals = [mmd(d, real, sigma=sigma)["mmd2"] for d in draws]
        lo, hi = np.percentile(vals, [2.5, 97.5])
        out["floor"]["ci95"] = (float(lo), float(hi))
        out["floor"]["interval"] = f"2.5-97.5 % over {len(draws)} re-drawn floor sets"
    return out


@torch.no_grad()
def evaluate_generator(
    sampler: Sampler,
    splits: DataSplits,
    *,
    conditional: bool,
    data_config: DataConfig,
    n: int = 1000,
    features: tuple[str, ...] = DEFAULT_FEATURES,
    seed: int = 0,
    bootstrap: int = 50,
    reference: str = "auto",
    shifted_test: bool = True,
    inception_weights: str | None = None,
    extractor_epochs: int = 8,
    extractor_cache: Path | None = None,
    sets: ProtocolSets | None = None,
    extractor_seeds: int = EXTRACTOR_SEEDS,
    step: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Steps 1-5 of the module docstring for any sampler; returns (metrics, the image sets used).

    ``sets`` (from ``build_sets(splits, n=n, seed=seed, reference=reference)``) may be passed
    when the caller needs to know the floor set beforehand (a replay generator must avoid it).
    ``extractor_seeds``: K, the extractors trained per view in ``SEEDED_FEATURES`` (seeds 0..K-1); the ensemble
    interval draws ``max(bootstrap, 2)`` replicates. The second value also holds ``features``: per view the K
    (n, d) feature arrays of the reference, floor and generated sets (``radgen.evaluation.ranking``).
    ``step(text)``, when given, is called as each step starts (``radgen.progress.Steps.step``)."""
    if extractor_seeds < 1:
        raise ConfigError(f"extractor_seeds={extractor_seeds} must be at least 1 (3 to count the seeds' spread)")
    step = step or (lambda text: None)
    # 1. real sets
    step("real sets")
    sets = sets or build_sets(splits, n=n, seed=seed, reference=reference)
    ref, flo = sets.reference, sets.floor
    real_x, real_y, floor_x, floor_y = ref.images, ref.labels, flo.images, flo.labels
    class_names = ref.class_names
    per_class_ok = conditional and ref.task == "multiclass"
    # 2. generated sets, same size and class mix
    step(f"sampling {len(real_y)} images")
    fake = sampler(real_y, seed)
    fake_y = real_y if conditional else None
    test = sets.shifted_test if shifted_test else None
    fake_test = sampler(test.labels, seed + 1000) if test is not None and sets.shifted_floor is not None else None
    train_x = sets.memorization_train.images
    val = splits.get("val")
    copy_split = "val" if val is not None and len(val) >= 20 else sets.reference_split
    copy_ref = val.images if copy_split == "val" else real_x
    out: dict[str, Any] = {
        "dataset": splits.name,
        "real_split": sets.reference_split,
        "reference_shifted": sets.shifted,
        **sets.describe(),
        "n_real": len(real_x),
        "n_floor": len(floor_x),
        "n_generated": len(fake),
        "conditional": conditional,
        "class_names": list(class_names),
        "image_size": int(real_x.shape[-1]),
        "channels": int(real_x.shape[1]),
        "preprocessing": to_dict(data_config),
        "seed": seed,
        "bootstrap": bootstrap,
        "created": datetime.now().isoformat(timespec="seconds"),
    }
    # 3. pixels
    step("pixel metrics, memorization, privacy audit")
    pool_y = sets.memorization_train.labels
    draws = sets.draws(counts_of(ref), bootstrap, seed=seed) if bootstrap >= 2 else []
    test_draws = (
        sets.draws(counts_of(test), bootstrap, seed=seed + 1) if bootstrap >= 2 and fake_test is not None else []
    )
    pixel_draws = draws[: min(bootstrap, 20)]
    out["pixels"] = {
        "mmd": mmd_with_floor(
            real_x, floor_x, fake, [train_x[d] for d in pixel_draws], bootstrap=bootstrap, seed=seed
        ),
        "ms_ssim_generated": pairwise_ms_ssim(fake, n_pairs=200, seed=seed),
        "ms_ssim_real": pairwise_ms_ssim(real_x, n_pairs=200, seed=seed),
        "ms_ssim_floor": pairwise_ms_ssim(floor_x, n_pairs=200, seed=seed),
    }
    out["pixels"]["mmd"]["mmd2"] = out["pixels"]["mmd"]["generated"]["mmd2"]  # the flat key older readers use
    set_metrics = compute_set_metrics(fake, floor_x, real_x)  # every registered metric, G and F against R
    if set_metrics:
        out["pixels"]["metrics"] = set_metrics
    if fake_test is not None:
        out["pixels"]["shifted_test"] = {
            "mmd": mmd_with_floor(
                test.images,
                sets.shifted_floor.images,
                fake_test,
                [train_x[d] for d in test_draws[: min(bootstrap, 20)]],
                bootstrap=bootstrap,
                seed=seed,
            )
        }
    memo = memorization_report(fake, train_x, real_x)
    out["memorization_pixels"] = {k: v for k, v in memo.items() if not isinstance(v, np.ndarray)}
    out["memorization_pixels"]["copy_ratio"] = {
        **copy_ratio_report(fake, train_x, copy_ref, seed=seed),
        "heldout_split": copy_split,
    }
    # privacy: the calibrated copy audit against every training image, black-box membership inference
    out["privacy"] = privacy_block(
        fake,
        splits,
        ref,
        reference_split=sets.reference_split,
        heldout=copy_ref,
        heldout_split=copy_split,
        bootstrap=bootstrap,
        seed=seed,
    )
    # 4. per extractor
    out["features"] = {}
    view_features: dict[str, dict[str, list[np.ndarray]]] = {}
    names = list(features)
    fidelity_extra = conditional and FIDELITY_CLASSIFIER not in names
    n_resamples = max(bootstrap, 2)
    for name in names + ([FIDELITY_CLASSIFIER] if fidelity_extra else []):
        step(f"features: {name}")
        seeds = list(range(extractor_seeds)) if name in SEEDED_FEATURES and name in names else [0]
        exs = [
            get_extractor(
                name,
                data_config=data_config,
                weights=inception_weights,
                epochs=extractor_epochs,
                cache_dir=extractor_cache,
                seed=s,
            )
            for s in seeds
        ]
        ex = exs[0]  # seed 0: KD, PRDC, memorization, label fidelity
        (ff, probs), (fr, probs_r) = ex.features_and_probs(fake), ex.features_and_probs(real_x)
        if name == FIDELITY_CLASSIFIER and conditional and probs is not None:
            # 5. label fidelity
            out["label_fidelity"] = {
                "classifier": {"name": ex.name, "weights_sha256": ex.weights_sha256, "record": ex.record},
                "rule": "argmax of the classifier's class probabilities; real = the reference (held-out) images",
                **label_fidelity(probs, fake_y, probs_r, real_y, class_names),
            }
        if name not in names:
            continue
        fl, ftrain = ex(floor_x), ex(train_x)
        block = compare(fr, fl, ff, floor_draws=[ftrain[d] for d in draws], bootstrap=bootstrap, seed=seed)
        g = block["generated"]
        d = ex.distance_name
        entry: dict[str, Any] = {
            "extractor": {"name": ex.name, "weights_sha256": ex.weights_sha256, "dim": ex.dim, "record": ex.record},
            "distance_name": d,  # FID only for the verified Inception weights
            "reference": block,
            # flat keys (the pooled generated-vs-reference values) for older readers
            d: g["FD"],
            f"{d}_ci95": g.get("FD_ci95"),
            f"{d}_floor": block["floor"]["FD"],
            f"{d}_ratio": block["FD_ratio"],
            f"KD_{ex.name}": g["KD"],
            f"KD_{ex.name}_ci95": g.get("KD_ci95"),
            **{k: g[k] for k in ("precision", "recall", "density", "coverage") if k in g},
            "memorization": {
                k: v for k, v in memorization_report(ff, ftrain, fr).items() if not isinstance(v, np.ndarray)
            },
        }
        if per_class_ok:
            entry["per_class"] = compare_per_class(
                fr,
                real_y,
                fl,
                floor_y,
                ff,
                fake_y,
                class_names,
                floor_draws=[(ftrain[d], pool_y[d]) for d in draws],
                bootstrap=bootstrap,
                seed=seed,
            )
        # the view's ensemble: every FD as the mean over its K extractors, two-level bootstrap interval, its floor
        per_seed = [(fr, fl, ff)] + [(e(real_x), e(floor_x), e(fake)) for e in exs[1:]]
        fr_k, fl_k, ff_k = ([t[i].numpy() for t in per_seed] for i in range(3))
        view_features[name] = {"reference": fr_k, "floor": fl_k, "generated": ff_k}
        ens_kw = {"n_resamples": n_resamples, "seed": seed}
        ensemble: dict[str, Any] = {
            "seeds": seeds,
            "extractors": [
                {"seed": s, "weights_sha256": e.weights_sha256, "record": e.record} for s, e in zip(seeds, exs)
            ],
            "reference": ensemble_fd_with_floor(fr_k, fl_k, ff_k, **ens_kw),
        }
        if per_class_ok:
            ensemble["per_class"] = _ensemble_per_class(
                fr_k, real_y, fl_k, floor_y, ff_k, fake_y, class_names, **ens_kw
            )
        if fake_test is not None:
            st = [(e(test.images), e(sets.shifted_floor.images), e(fake_test)) for e in exs]
            entry["shifted_test"] = compare(
                *st[0], floor_draws=[ftrain[d] for d in test_draws], bootstrap=bootstrap, seed=seed
            )
            ensemble["shifted_test"] = ensemble_fd_with_floor(
                *([t[i].numpy() for t in st] for i in range(3)), **ens_kw
            )
        ensemble["method"] = ensemble["reference"]["generated"]["method"]
        entry["ensemble"] = ensemble
        er = ensemble["reference"]  # the flat keys hold the ensemble's numbers
        entry.update(
            {
                d: er["generated"]["FD"],
                f"{d}_ci95": er["generated"]["FD_interval"],
                f"{d}_floor": er["floor"]["FD"],
                f"{d}_ratio": er["ratio"],
            }
        )
        entry["memorization"]["copy_ratio"] = {
            **copy_ratio_report(ff, ftrain, ex(copy_ref), seed=seed),
            "heldout_split": copy_split,
        }
        if probs is not None:
            entry[f"IS_{ex.name}"] = inception_score(probs)
        out["features"][name] = entry
    if test is None:
        out.pop("shifted_test", None)
    return out, {"generated": fake, "train": train_x, "memo": memo, "sets": sets, "features": view_features}


def _ensemble_per_class(fr_k, real_y, fl_k, floor_y, ff_k, fake_y, class_names, *, n_resamples: int, seed: int):
    """``ensemble_fd_with_floor`` within each class (at least 2 images per set), like ``compare_per_class``."""
    out = {}
    for c, cname in enumerate(class_names):
        rm, fm, gm = (np.asarray(y == c) for y in (real_y, floor_y, fake_y))
        if min(int(rm.sum()), int(fm.sum()), int(gm.sum())) < 2:
            continue
        out[cname] = ensemble_fd_with_floor(
            [f[rm] for f in fr_k], [f[fm] for f in fl_k], [f[gm] for f in ff_k], n_resamples=n_resamples, seed=seed + c
        )
    return out
