"""What each view measures, shown: the protocol's sanity set under every view (issue 34, deliverable 5).

Four generators whose answer is known, built from the run's own sets (``radgen.evaluation.sets``):

- ``replay``: real training images, none from the floor set F, with the reference's class counts: the best a
  generator can do; its FD should sit at the floor.
- ``blurred replay``: the replay under a Gaussian blur (sigma 1 px, 7 taps, reflected edges): right content,
  wrong sharpness. A view that ranks it above (closer than) the replay cannot be trusted for sharpness.
- ``noise``: uniform noise in [0, 1] of the same shape: should be last under every view.
- ``label-swapped replay`` (multiclass data only): for class c's k images, k real images of class (c+1) mod K:
  real images with the wrong class mix. A view that does not separate it from the replay (P < 0.95) is blind to
  class content in its pooled FD.

Every view's FD is the ensemble mean over its extractor seeds with the two-level bootstrap interval, its floor
computed the same way, and the rank probability P(FD_replay < FD_x) over paired resamples
(``radgen.metrics.ranking``). ``run_sanity`` runs it on a dataset with the evaluation's sets and extractors
(``radgen demo`` writes it as ``sanity.json``); ``radgen.reports.sanity`` renders it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from radgen.data.base import ImageSet
from radgen.errors import ConfigError
from radgen.evaluation.sets import ProtocolSets, counts_of, matched_index
from radgen.metrics.features import FeatureExtractor
from radgen.metrics.ranking import SEPARATED, ensemble_fd_with_floor, paired_resample_fd, rank_probability

SANITY_GENERATORS = ("replay", "blurred replay", "noise", "label-swapped replay")
BLUR_SIGMA = 1.0


def gaussian_blur(x: torch.Tensor, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Separable 7-tap Gaussian blur of (N, C, H, W) images, reflected edges."""
    k = torch.exp(-(torch.arange(-3, 4, dtype=torch.float64) ** 2) / (2 * sigma**2))
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[1]
    y = F.pad(x, (3, 3, 3, 3), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, 7).expand(c, 1, 1, 7), groups=c)
    return F.conv2d(y, k.view(1, 1, 7, 1).expand(c, 1, 7, 1), groups=c)


def sanity_indices(sets: ProtocolSets, train: ImageSet, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows of ``train`` (the training split that ``sets.floor_index`` indexes) for the replay and, on multiclass
    data, the label-swapped replay: the reference's class counts (class c's count taken from class (c+1) mod K for
    the swap), never a floor image, the swap disjoint from the replay where the split allows it."""
    ref = sets.reference
    g = torch.Generator().manual_seed(seed)
    if ref.task == "multiclass":
        counts = counts_of(ref)
        replay_idx = matched_index(train.labels, counts, generator=g, exclude=sets.floor_index)
    else:
        allowed = np.setdiff1d(np.arange(len(train)), sets.floor_index)
        if len(allowed) < len(ref):
            raise ConfigError(f"the training split has {len(allowed)} images outside the floor set, fewer than "
                              f"the reference's {len(ref)}; evaluate with a smaller --n")  # fmt: skip
        replay_idx = np.sort(allowed[torch.randperm(len(allowed), generator=g)[: len(ref)].numpy()])
    out = {"replay": replay_idx}
    if ref.task == "multiclass" and ref.num_classes > 1:
        k = ref.num_classes
        swapped = {(c + 1) % k: n for c, n in counts.items()}
        try:
            idx = matched_index(train.labels, swapped, generator=g, exclude=np.union1d(sets.floor_index, replay_idx))
        except ConfigError:  # too few images of a class outside F and the replay: the replay's images allowed
            idx = matched_index(train.labels, swapped, generator=g, exclude=sets.floor_index)
        out["label-swapped replay"] = idx
    return out


def sanity_sets(sets: ProtocolSets, train: ImageSet, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """The four sanity generators' images (three on multilabel data: no label swap), each of the reference's size,
    in ``SANITY_GENERATORS``'s order; rows from ``sanity_indices``, noise seeded by ``seed``."""
    idx = sanity_indices(sets, train, seed=seed)
    replay = train.subset(idx["replay"]).images
    out = {
        "replay": replay,
        "blurred replay": gaussian_blur(replay),
        "noise": torch.rand(replay.shape, generator=torch.Generator().manual_seed(seed + 1)),
    }
    if "label-swapped replay" in idx:
        out["label-swapped replay"] = train.subset(idx["label-swapped replay"]).images
    return out


def _features(extractors: Sequence[FeatureExtractor], images: torch.Tensor) -> list[np.ndarray]:
    return [ex(images).numpy() for ex in extractors]


def sanity_check(
    views: Mapping[str, Sequence[FeatureExtractor]],
    reference: torch.Tensor,
    floor: torch.Tensor,
    generators: Mapping[str, torch.Tensor],
    *,
    n_resamples: int = 100,
    seed: int = 0,
) -> dict[str, Any]:
    """Every sanity generator under every view: ensemble FD (mean over the view's extractor seeds, two-level
    interval), floor, ratio, P(FD_replay < FD_x); and the marks: ``blur_above_replay`` (the view's mean FD of the
    blurred replay is below the replay's) and ``class_blind`` (P(FD_replay < FD_label-swapped) < 0.95)."""
    if "replay" not in generators:
        raise ConfigError("the sanity check needs the 'replay' generator (see sanity_sets)")
    out: dict[str, Any] = {"generators": list(generators), "n_resamples": n_resamples, "views": {}}
    for view, extractors in views.items():
        if not extractors:
            raise ConfigError(f"view {view!r} has no extractor; give at least one seed's extractor")
        fr, ff = _features(extractors, reference), _features(extractors, floor)
        fg = {name: _features(extractors, x) for name, x in generators.items()}
        rows = {name: ensemble_fd_with_floor(fr, ff, f, n_resamples=n_resamples, seed=seed) for name, f in fg.items()}
        fds = paired_resample_fd(fr, fg, n_resamples=n_resamples, seed=seed)
        for name, row in rows.items():
            if name != "replay":
                row["p_replay_first"] = rank_probability(fds["replay"], fds[name]).p
        entry: dict[str, Any] = {
            "extractors": [{"name": ex.name, "weights_sha256": ex.weights_sha256} for ex in extractors],
            "distance_name": extractors[0].distance_name,
            "rows": rows,
            "rank_method": rank_probability(fds["replay"], fds["replay"]).method,
        }
        if "blurred replay" in rows:
            entry["blur_above_replay"] = rows["blurred replay"]["generated"]["FD"] < rows["replay"]["generated"]["FD"]
        if "label-swapped replay" in rows:
            entry["class_blind"] = rows["label-swapped replay"]["p_replay_first"] < SEPARATED
        out["views"][view] = entry
    return out


def run_sanity(
    splits,
    *,
    data_config,
    features: Sequence[str],
    extractor_seeds: int = 1,
    extractor_epochs: int = 8,
    n: int = 1000,
    n_resamples: int = 100,
    seed: int = 0,
    extractor_cache=None,
) -> dict[str, Any]:
    """``sanity_check`` on the evaluation's real sets (``build_sets(splits, n=n, seed=seed)``: the same reference
    and floor as ``evaluate_generator`` with these settings) under every view in ``features``, each with the
    evaluation's extractors (K = ``extractor_seeds`` for a view in ``SEEDED_FEATURES``, loaded from the extractor
    cache where the evaluation trained them). The result records the setup (n, seeds, epochs)."""
    from radgen.evaluation.protocol import SEEDED_FEATURES
    from radgen.evaluation.sets import build_sets
    from radgen.metrics.features import get_extractor

    sets = build_sets(splits, n=n, seed=seed)
    gens = sanity_sets(sets, splits["train"], seed=seed)
    views = {
        name: [
            get_extractor(name, data_config=data_config, epochs=extractor_epochs, seed=s, cache_dir=extractor_cache)
            for s in (range(extractor_seeds) if name in SEEDED_FEATURES else [0])
        ]
        for name in features
    }
    out = sanity_check(views, sets.reference.images, sets.floor.images, gens, n_resamples=n_resamples, seed=seed)
    out["setup"] = {
        "n": len(sets.reference),
        "reference_split": sets.reference_split,
        "extractor_seeds": {v: list(range(len(exs))) for v, exs in views.items()},
        "extractor_epochs": extractor_epochs,
        "seed": seed,
    }
    return out
