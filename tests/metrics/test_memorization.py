"""Memorization check: copies of training images are flagged, fresh images are not."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from radgen.data import load_dataset
from radgen.metrics.memorization import closest_pairs_figure, memorization_report, nearest_distances


def test_nearest_distances_against_brute_force():
    g = torch.Generator().manual_seed(0)
    q, r = torch.rand(7, 1, 4, 4, generator=g), torch.rand(11, 1, 4, 4, generator=g)
    d, i = nearest_distances(q, r, batch_size=3)
    full = np.linalg.norm(q.reshape(7, -1).numpy()[:, None] - r.reshape(11, -1).numpy()[None], axis=-1)
    np.testing.assert_allclose(d.numpy(), full.min(1), rtol=1e-6)
    np.testing.assert_array_equal(i.numpy(), full.argmin(1))


def test_copies_are_flagged_and_held_out_images_are_not(tmp_path):
    ds = load_dataset("pneumoniamnist", progress=False)
    train, test = ds["train"].images[:1000], ds["test"].images[:300]
    copies = (train[:40] + 0.003 * torch.randn(40, 1, 28, 28, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    held_out = ds["val"].images[:100]
    rep = memorization_report(torch.cat([copies, held_out]), train, test)
    flagged = rep["nn_distance"] < rep["threshold"]
    assert flagged[:40].all() and flagged[40:].mean() < 0.15
    assert rep["fraction_flagged"] == flagged.mean()
    closest_pairs_figure(torch.cat([copies, held_out]), train, rep, tmp_path / "pairs.png", n=6)
    img = np.asarray(Image.open(tmp_path / "pairs.png"))
    assert img.shape[0] > 50 and img.shape[1] > 150


def test_copy_ratio_flags_copies_not_blur_and_calibrates_on_novel_samples():
    from radgen.metrics.memorization import copy_ratio_report

    g = torch.Generator().manual_seed(0)
    train = torch.rand(400, 1, 8, 8, generator=g)
    heldout = torch.rand(400, 1, 8, 8, generator=g)
    novel = torch.rand(400, 1, 8, 8, generator=g)
    copies = train[:100] + 0.01 * torch.randn(100, 1, 8, 8, generator=g)
    blurry = torch.full((100, 1, 8, 8), 0.5) + 0.02 * torch.randn(100, 1, 8, 8, generator=g)
    # the copies' originals must be in the training subset the ratio uses, so train the report on them
    assert copy_ratio_report(copies, train[:200], heldout, seed=0)["fraction_flagged"] > 0.4
    assert (
        copy_ratio_report(blurry, train, heldout, seed=0)["fraction_flagged"] < 0.1
    )  # the "closer than typical" rule flags these
    assert memorization_report(blurry, train, heldout)["fraction_flagged"] > 0.9
    rate = copy_ratio_report(novel, train, heldout, seed=0)["fraction_flagged"]
    assert 0.0 < rate < 0.15  # about the 5 % calibration quantile
