"""Classifier shapes and parameter count, imbalance remedies, metrics against hand values, a real-data fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radgen.classifiers import (
    ClassifierTrainConfig,
    build_classifier,
    class_weights,
    classification_metrics,
    fit_classifier,
    predict_proba,
)
from radgen.classifiers.train import classic_augment, epoch_indices
from radgen.data import load_dataset


def test_cnn001_shapes_and_parameter_count():
    m = build_classifier("cnn001", in_channels=1, image_size=64, num_classes=2)
    assert sum(p.numel() for p in m.parameters()) == 1_053_762  # 160 + 4,640 + 1,048,704 + 258
    assert m.fc1.in_features == 8192
    x = torch.rand(3, 1, 64, 64)
    assert m(x).shape == (3, 2) and m.features(x).shape == (3, 128)
    assert build_classifier("cnn001", in_channels=1, image_size=28, num_classes=2).fc1.in_features == 32 * 7 * 7
    r = build_classifier("resnet18", in_channels=3, image_size=64, num_classes=2, width=8)
    assert r(torch.rand(2, 3, 64, 64)).shape == (2, 2) and r.features(torch.rand(2, 3, 64, 64)).shape == (2, 64)
    assert (
        sum(
            p.numel()
            for p in build_classifier("resnet18", in_channels=3, image_size=64, num_classes=1000).parameters()
        )
        > 11_000_000
    )  # ResNet18-size


def test_class_weights_and_oversampling_balance_the_classes():
    labels = torch.tensor([0] * 100 + [1] * 300)
    torch.testing.assert_close(class_weights(labels, 2), torch.tensor([400 / 200, 400 / 600]))
    g = torch.Generator().manual_seed(0)
    drawn = torch.cat([labels[epoch_indices(labels, sampling="oversample", generator=g)] for _ in range(20)])
    assert abs(float(drawn.float().mean()) - 0.5) < 0.02  # ~1:1 instead of 1:3
    plain = labels[epoch_indices(labels, sampling="shuffle", generator=g)]
    assert float(plain.float().mean()) == pytest.approx(0.75)  # a permutation keeps the ratio


def test_classic_augmentation_keeps_range_and_shape_and_changes_images():
    x = torch.rand(8, 1, 28, 28)
    y = classic_augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1 and not torch.allclose(x, y)


def test_metrics_against_hand_computed_values():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    prob1 = np.array([0.2, 0.6, 0.1, 0.9, 0.8, 0.4, 0.7, 0.95])  # predictions: 0 1 0 1 1 0 1 1
    prob = np.stack([1 - prob1, prob1], 1)
    m = classification_metrics(y, prob, ("NORMAL", "PNEUMONIA"))
    assert m["confusion_matrix"] == [[2, 1], [1, 4]]
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["precision/PNEUMONIA"] == pytest.approx(4 / 5) and m["recall/NORMAL"] == pytest.approx(2 / 3)
    f1_n, f1_p = 2 * (2 / 3 * 2 / 3) / (4 / 3), 2 * (0.8 * 0.8) / 1.6
    assert m["macro_f1"] == pytest.approx((f1_n + f1_p) / 2)
    # AUROC by counting: fraction of (positive, negative) pairs ranked correctly
    pos, neg = prob1[y == 1], prob1[y == 0]
    assert m["auroc"] == pytest.approx(np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg]))


def test_fit_on_real_pneumoniamnist_beats_chance_and_selects_on_val():
    ds = load_dataset("pneumoniamnist", progress=False)
    model = build_classifier("cnn001", in_channels=1, image_size=28, num_classes=2)
    model, hist = fit_classifier(
        model, ds["train"], ds["val"], ClassifierTrainConfig(epochs=2, batch_size=128, loss="weighted_ce", seed=0)
    )
    assert len(hist) == 2 and all("val_loss" in h for h in hist)
    m = classification_metrics(ds["test"].labels.numpy(), predict_proba(model, ds["test"]), ds.class_names)
    assert m["balanced_accuracy"] > 0.75 and m["auroc"] > 0.85
