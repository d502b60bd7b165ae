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
