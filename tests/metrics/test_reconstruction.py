"""Reconstruction metrics: identities and the PSNR formula."""

from __future__ import annotations

import pytest
import torch

from radgen.data import load_dataset
from radgen.metrics.reconstruction import image_quality, reconstruction_metrics
from radgen.models import build_model


def test_identity_and_a_known_error():
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    same = image_quality(x, x)
    torch.testing.assert_close(same["ssim"], torch.ones(4), rtol=0, atol=1e-5)
    assert float(same["l1"].max()) == 0 and float(same["psnr"].min()) > 100
    shifted = image_quality((x + 0.1).clamp(0, 1), x)
    mse = ((x + 0.1).clamp(0, 1) - x).pow(2).flatten(1).mean(1)
    torch.testing.assert_close(shifted["psnr"], 10 * torch.log10(1 / mse))
    assert float(shifted["ssim"].max()) < 1.0


def test_reconstruction_metrics_on_a_model():
    test = load_dataset("pneumoniamnist", progress=False)["test"].subset(list(range(64)))
    m = build_model({"name": "vae", "latent_dim": 4, "hidden": [32]}, image_size=28, channels=1, num_classes=2)
    out = reconstruction_metrics(m, test, batch_size=20)
    assert out["n"] == 64 and 0 < out["mse"] < 1 and out["l1"] > 0 and out["psnr"] > 0
    ref = image_quality(m.reconstruct(test.images, test.labels), test.images)
    assert out["mse"] == pytest.approx(float(ref["mse"].mean()), rel=1e-5)
