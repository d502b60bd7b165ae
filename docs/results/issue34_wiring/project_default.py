"""Issue 34 wiring: what the extractor ensembles, the radiomics view, the rank probabilities and the sanity appendix
add to the evaluation stage of the default `radgen demo` (chest_xray_full_64, n=1000 capped at the held-out split,
bootstrap 50, K=3 seeds, rank resamples 100, sanity resamples 50), measured piece by piece. Run from the
repository root:

    OMP_NUM_THREADS=2 flock /tmp/radgen-cpu.lock /usr/bin/time -v \
        .venv/bin/python docs/results/issue34_wiring/project_default.py

Extractors are trained into a temporary cache (seed 1 of each trained view, the demo's 8 epochs: what seeds 1 and
2 each cost on a cold cache; and seed 0 of radgen-cnn001 untimed, the label-fidelity classifier every evaluation
loads). The trained views' ensemble blocks, rank probabilities and sanity appendix are timed
with stand-in extractors of the same dimension (random projections; the arithmetic's cost depends on n and d
only); radiomics is the real view. Prints one JSON line of seconds.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from radgen.data import DataConfig, load_dataset
from radgen.evaluation import build_sets, evaluate_generator
from radgen.evaluation.ranking import rank_generators
from radgen.evaluation.sanity import sanity_check, sanity_sets
from radgen.metrics.features import FeatureExtractor, get_extractor
from radgen.metrics.ranking import ensemble_fd_with_floor

torch.set_num_threads(2)
N, BOOT, K, RANK_B, SANITY_B = 1000, 50, 3, 100, 50
DIMS = {"radgen-cnn001": 128, "radgen-ae001": 176}  # the trained views' feature dimensions
out: dict[str, float] = {}
dcfg = DataConfig(name="chest_xray_full_64", val_from_train=0.1, seed=0)
ds = load_dataset(dcfg, progress=False)
sets = build_sets(ds, n=N, seed=0)
out["n_reference"] = len(sets.reference)
out["n_shifted_test"] = len(sets.shifted_test) if sets.shifted_test is not None else 0

# 1. one training of each trained view (seeds 1 and 2 each cost this on a cold cache); all in a temporary cache
cache = Path(tempfile.mkdtemp(prefix="radgen-issue34-wiring-"))
for name in DIMS:
    t0 = time.perf_counter()
    get_extractor(name, data_config=dcfg, epochs=8, seed=1, cache_dir=cache)
    out[f"train_{name}_one_seed"] = time.perf_counter() - t0
get_extractor("radgen-cnn001", data_config=dcfg, epochs=8, seed=0, cache_dir=cache)  # the fidelity classifier


def replay(labels, seed):
    return sets.memorization_train.images[: len(labels)]


# 2. the radiomics view in the protocol (its whole cost: extraction of every set, FD/KD/PRDC, per class, shifted,
# memorization, ensemble block): the evaluation with it minus the evaluation with no view
for feats in ((), ("radiomics",)):
    t0 = time.perf_counter()
    evaluate_generator(
        replay, ds, conditional=True, data_config=dcfg, n=N, features=feats, bootstrap=BOOT, sets=sets,
        extractor_cache=cache,
    )  # fmt: skip
    out[f"evaluate_views_{'+'.join(feats) or 'none'}"] = time.perf_counter() - t0
out["radiomics_view_per_evaluation"] = out["evaluate_views_radiomics"] - out["evaluate_views_none"]

# 3. a trained view's ensemble blocks per evaluation (reference, 2 classes, shifted test), K = 3, d = 128 / 176
rng = np.random.default_rng(0)
ref_y = sets.reference.labels.numpy()
n_r, n_t = len(sets.reference), out["n_shifted_test"]
for name, d in DIMS.items():
    t0 = time.perf_counter()
    fr, fl, ff = ([rng.normal(size=(n_r, d)) for _ in range(K)] for _ in range(3))
    ensemble_fd_with_floor(fr, fl, ff, n_resamples=BOOT, seed=0)
    for c in (0, 1):
        m = ref_y == c
        ensemble_fd_with_floor([f[m] for f in fr], [f[m] for f in fl], [f[m] for f in ff], n_resamples=BOOT)
    if n_t:
        ft, fs, fg = ([rng.normal(size=(n_t, d)) for _ in range(K)] for _ in range(3))
        ensemble_fd_with_floor(ft, fs, fg, n_resamples=BOOT, seed=0)
    out[f"ensemble_blocks_{name}_per_evaluation"] = time.perf_counter() - t0

# 4. rank probabilities of 3 generators under the 3 views
feats = {}
ref = {v: [rng.normal(size=(n_r, d)) for _ in range(K)] for v, d in DIMS.items()} | {
    "radiomics": [rng.normal(size=(n_r, 24))]
}
for g in ("cvae", "lsgan", "ldm"):
    feats[g] = {v: {"reference": r, "generated": [rng.normal(size=r[0].shape) for _ in r]} for v, r in ref.items()}
t0 = time.perf_counter()
rank_generators(feats, n_resamples=RANK_B, seed=0)
out["rank_probabilities"] = time.perf_counter() - t0


# 5. the sanity appendix (4 generators) under the 3 views: real radiomics, stand-in trained views
def stand_in(name: str, d: int, seed: int) -> FeatureExtractor:
    w = torch.randn(64 * 64, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) / 64
    return FeatureExtractor(name, f"FD_{name}", d, f"stand-in-{seed}", {}, lambda x: x.flatten(1).double() @ w)


views = {"radiomics": [get_extractor("radiomics")]} | {
    v: [stand_in(v, d, s) for s in range(K)] for v, d in DIMS.items()
}
t0 = time.perf_counter()
gens = sanity_sets(sets, ds["train"], seed=0)
sanity_check(views, sets.reference.images, sets.floor.images, gens, n_resamples=SANITY_B, seed=0)
out["sanity_appendix"] = time.perf_counter() - t0

cold = 2 * sum(out[f"train_{v}_one_seed"] for v in DIMS)  # seeds 1 and 2 of both views, once per demo
per_eval = out["radiomics_view_per_evaluation"] + sum(out[f"ensemble_blocks_{v}_per_evaluation"] for v in DIMS)
out["projected_added_seconds_cold_cache"] = cold + 3 * per_eval + out["rank_probabilities"] + out["sanity_appendix"]
out["projected_added_seconds_warm_cache"] = 3 * per_eval + out["rank_probabilities"] + out["sanity_appendix"]
print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in out.items()}))
shutil.rmtree(cache)
