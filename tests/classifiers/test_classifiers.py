"""Classifier shapes and parameter count, imbalance remedies, metrics against hand values, a real-data fit."""

from __future__ import annotations

import math

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
from radgen.classifiers.metrics import predict_labels
from radgen.classifiers.train import classic_augment, epoch_indices
from radgen.data import load_dataset
from radgen.data.base import ImageSet
from radgen.errors import ConfigError


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


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_cnn001_pools_before_its_relu_with_the_documents_outputs_and_gradients_bit_for_bit(layout):
    """001 orders Conv -> ReLU -> MaxPool; radgen pools first (ReLU is monotone, so the two are equal exactly)."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    m = build_classifier("cnn001", in_channels=1, image_size=64, num_classes=2).to(memory_format=layout)
    x = (torch.randn(8, 1, 64, 64) * 2).contiguous(memory_format=layout)

    def as_001(x):  # the document's order, on the same weights
        h = F.max_pool2d(F.relu(m.conv1(x)), 2)
        h = F.max_pool2d(F.relu(m.conv2(h)), 2)
        return m.fc2(F.relu(m.fc1(h.flatten(1))))

    y = torch.randint(0, 2, (8,))
    grads = []
    for fn in (m, as_001):
        m.zero_grad()
        out = fn(x)
        F.cross_entropy(out, y).backward()
        grads.append((out.detach(), [p.grad.clone() for p in m.parameters()]))
    (o1, g1), (o2, g2) = grads
    assert torch.equal(o1, o2)
    assert all(torch.equal(a, b) for a, b in zip(g1, g2))
    assert (m.conv1(x) < 0).float().mean() > 0.2  # the ReLU does cut: a check that could fail


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


# --------------------------------------------------------------------------- the judge's pieces
def test_threshold_maximises_validation_balanced_accuracy_by_brute_force():
    from radgen.classifiers.train import choose_threshold

    rng = np.random.default_rng(0)
    y = np.array([0] * 30 + [1] * 90)
    s = np.clip(rng.normal(0.35 + 0.35 * y, 0.2), 0, 1)
    prob = np.stack([1 - s, s], 1)
    t = choose_threshold(y, prob, "val_balanced")

    def bal(th):
        pred = (s >= th).astype(int)
        return ((pred[y == 1] == 1).mean() + (pred[y == 0] == 0).mean()) / 2

    grid = np.linspace(0, 1, 2001)
    assert bal(t) == pytest.approx(max(bal(g) for g in grid), abs=1e-12)  # no threshold on a fine grid does better
    assert choose_threshold(y, prob, "argmax") is None
    assert choose_threshold(y, np.ones((len(y), 3)) / 3, "val_balanced") is None  # multiclass: argmax
    m = classification_metrics(y, prob, ("N", "P"), threshold=t)
    assert m["balanced_accuracy"] == pytest.approx(bal(t)) and m["threshold"] == t
    assert predict_labels(prob, 0.5).tolist() == (s >= 0.5).astype(int).tolist()


def test_light_augmentation_translates_and_rotates_within_its_bounds():
    from radgen.classifiers.train import light_augment

    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 13:15, 13:15] = 1.0  # a centred dot
    y = light_augment(x, torch.Generator().manual_seed(0))
    w = y[:, 0]
    cy = (w.sum(2) * torch.arange(28.0)).sum(1) / w.sum((1, 2))
    cx = (w.sum(1) * torch.arange(28.0)).sum(1) / w.sum((1, 2))
    shift = torch.stack([cx - 13.5, cy - 13.5], 1).abs()
    assert float(shift.max()) <= 0.08 * 28 + 0.3 and float(shift.max()) > 0.5  # +-8 % of the side, and it moves
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1


def test_onecycle_and_cosine_schedules_follow_their_formulas():
    from radgen.classifiers.train import make_optimizer, make_schedule

    p = [torch.nn.Parameter(torch.zeros(3))]
    cfg = ClassifierTrainConfig(epochs=2, lr=1e-2, schedule="cosine")
    opt = make_optimizer(p, cfg)
    sched = make_schedule(opt, cfg, steps_per_epoch=5)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1e-2 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(10)])
    cfg = ClassifierTrainConfig(epochs=2, lr=1e-2, schedule="onecycle")
    opt = make_optimizer(p, cfg)
    sched = make_schedule(opt, cfg, steps_per_epoch=50)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert max(lrs) == pytest.approx(1e-2) and int(np.argmax(lrs)) in (29, 30)  # peak after 30 % of the steps
    assert lrs[0] == pytest.approx(1e-2 / 25) and lrs[-1] < 1e-5  # starts at lr/25, anneals to ~lr/1e4
    with pytest.raises(ConfigError, match="schedule"):
        ClassifierTrainConfig(schedule="step")


def _tiny_split(seed: int) -> tuple[ImageSet, ImageSet]:
    """64 random 12 px images (20 of class 0), and every third of them as the validation split."""
    g = torch.Generator().manual_seed(seed)
    train = ImageSet(
        pixels=torch.randint(0, 256, (64, 1, 12, 12), dtype=torch.uint8, generator=g),
        labels=torch.tensor([0] * 20 + [1] * 44),
        class_names=("N", "P"),
    )
    return train, train.subset(np.arange(0, 64, 3))


_TINY_CFG = ClassifierTrainConfig(
    epochs=2, batch_size=24, lr=3e-3, weight_decay=0.05, optimizer="adamw", schedule="onecycle",
    augment="light", select="val_auroc", patience=None,
)  # fmt: skip


@pytest.mark.parametrize("net,options", [("cnn001", {}), ("resnet18", {"width": 4})])
def test_batched_ensemble_gives_each_seeds_weights_alone(net, options):
    from dataclasses import replace

    from radgen.classifiers.ensemble import fit_classifiers_batched
    from radgen.classifiers.judge import build_seeded

    train, val = _tiny_split(0)
    base = replace(_TINY_CFG, sampling="oversample", patience=1, channels_last=False)  # the ensemble's layout
    cfgs = [replace(base, seed=s) for s in (0, 1, 2)] if net == "cnn001" else [replace(base, seed=s) for s in (0, 1)]
    alone = [fit_classifier(build_seeded(net, options, train, c.seed), train, val, c) for c in cfgs]
    together = fit_classifiers_batched([build_seeded(net, options, train, c.seed) for c in cfgs], train, val, cfgs)
    for (m1, h1), (m2, h2) in zip(alone, together):
        assert [h["epoch"] for h in h1] == [h["epoch"] for h in h2]  # the same early stop per seed
        for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
            # float32 rounding (grouped vs single convolutions) through Adam's normalised steps (lr 3e-3)
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
        assert [h["val_loss"] for h in h1] == pytest.approx([h["val_loss"] for h in h2], rel=1e-4)
    w0 = next(iter(alone[0][0].state_dict().values()))
    assert not torch.allclose(w0, next(iter(alone[1][0].state_dict().values())))  # seeds do differ


@pytest.mark.parametrize("net,options", [("cnn001", {}), ("resnet18", {"width": 4})])
def test_channels_last_gives_the_same_loss_and_gradients_to_float32_rounding(net, options):
    import torch.nn.functional as F

    from radgen.classifiers.train import as_model_layout, is_channels_last, to_channels_last

    torch.manual_seed(0)
    a = build_classifier(net, in_channels=1, image_size=12, num_classes=2, **options)
    b = build_classifier(net, in_channels=1, image_size=12, num_classes=2, **options)
    b.load_state_dict(a.state_dict())
    b = to_channels_last(b)
    assert not is_channels_last(a) and is_channels_last(b)
    x, y = torch.rand(24, 1, 12, 12), torch.randint(0, 2, (24,))
    la, lb = F.cross_entropy(a(x), y), F.cross_entropy(b(as_model_layout(x, True)), y)
    la.backward()
    lb.backward()
    assert float(la) == pytest.approx(float(lb), rel=1e-5)
    for (k, p), q in zip(a.named_parameters(), b.parameters()):
        assert p.grad.abs().max() > 0, k  # every parameter gets a gradient to compare
        rel = float((p.grad - q.grad.contiguous()).norm() / p.grad.norm())
        assert rel < 1e-4, (k, rel)


def test_channels_last_training_gives_the_contiguous_weights_to_float32_rounding():
    """A short cnn001 fit in either layout. (ResNet-18's GroupNorm leaves some gradients at rounding level, whose
    sign Adam's normalised step turns into a full step: its weights drift by about lr per step, so it is compared
    by its gradients above.)"""
    from dataclasses import replace

    from radgen.classifiers.judge import build_seeded
    from radgen.classifiers.train import is_channels_last

    train, val = _tiny_split(1)
    base = _TINY_CFG
    nchw, h1 = fit_classifier(build_seeded("cnn001", {}, train, 0), train, val, replace(base, channels_last=False))
    nhwc, h2 = fit_classifier(build_seeded("cnn001", {}, train, 0), train, val, replace(base, channels_last=True))
    assert not is_channels_last(nchw) and is_channels_last(nhwc)  # the layout did change
    assert nhwc.conv2.weight.stride()[1] == 1  # NHWC strides: channels innermost
    for (k, a), b in zip(nchw.state_dict().items(), nhwc.state_dict().values()):
        torch.testing.assert_close(a, b.contiguous(), rtol=1e-3, atol=1e-4, msg=k)
    assert [h["val_loss"] for h in h1] == pytest.approx([h["val_loss"] for h in h2], rel=1e-4)
    np.testing.assert_allclose(predict_proba(nchw, val), predict_proba(nhwc, val), rtol=1e-3, atol=1e-4)
    untrained = build_seeded("cnn001", {}, train, 0)
    assert not torch.allclose(untrained.conv2.weight, nchw.conv2.weight)  # it trained


def test_classify_end_to_end_on_a_small_split(tmp_path):
    import json

    from radgen.data import DataConfig
    from radgen.experiments.classify import load_classify_config, run_classify

    cfg = load_classify_config(
        {"data": {"name": "pneumoniamnist"}, "judge": "cnn001", "seeds": 2, "max_train": 200, "train": {"epochs": 1}},
        ["train.threshold=val_balanced"],
    )
    assert cfg.classifier == "cnn001" and cfg.train.epochs == 1 and cfg.train.batch_size == 64  # the judge's rest
    assert isinstance(cfg.data, DataConfig)
    out, s = run_classify(cfg, out_dir=tmp_path / "c", progress=False)
    for f in ("config.yaml", "results.json", "results.jsonl", "summary.md", "confusion.png", "roc.png"):
        assert (out / f).is_file(), f
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    acc = [r["test"]["accuracy"] for r in rows]
    assert s["test"]["accuracy"]["mean"] == pytest.approx(np.mean(acc))
    assert s["test"]["accuracy"]["std"] == pytest.approx(np.std(acc, ddof=1))
    assert np.sum(s["confusion_matrix_sum"]) == 2 * 624 and s["splits"]["test"] == {"normal": 234, "pneumonia": 390}
    probs = np.load(out / "test_probs.npz")
    for r, p in zip(rows, probs["probs"]):  # every seed's test metrics come from its own probabilities and threshold
        assert r["test"] == classification_metrics(
            probs["labels"], p, ("normal", "pneumonia"), threshold=r["threshold"]
        )
    with pytest.raises(ConfigError, match="judge"):
        load_classify_config({"judge": "vgg"})


def test_classify_cli_lists_judges_and_refuses_bad_settings(capsys, tmp_path):
    from radgen.cli import main

    assert main(["list", "classifiers"]) == 0
    out = capsys.readouterr().out
    assert "resnet18   *" in out and "cnn001" in out
    assert main(["classify", "--classifier", "vgg", "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("radgen: error: unknown judge 'vgg'; valid: cnn001, resnet18") and err.count("\n") == 1
    assert main(["classify", "--set", "train.schedule=step", "--output-dir", str(tmp_path)]) == 2
    assert "schedule" in capsys.readouterr().err and not any(tmp_path.iterdir())  # refused before writing


@pytest.mark.skipif(torch.cuda.is_available(), reason="refusal of a missing CUDA device; this machine has one")
def test_a_device_this_machine_lacks_is_refused_in_one_line():
    from radgen.classifiers.train import ClassifierTrainConfig
    from radgen.errors import ConfigError

    with pytest.raises(ConfigError, match=r"train.device=cuda but this machine has no such CUDA device"):
        ClassifierTrainConfig(device="cuda")
    with pytest.raises(ConfigError, match=r"train.device='gpu0' is not a device"):
        ClassifierTrainConfig(device="gpu0")
    assert ClassifierTrainConfig(device="cpu").device == "cpu"


def test_classify_refuses_options_the_network_cannot_take_and_leaves_no_half_folder(capsys, tmp_path, monkeypatch):
    """Red team 2, item 9: classifier_options.width=0 ended in ZeroDivisionError, and a classify that failed
    after it started left config.yaml and an empty results.jsonl."""
    from radgen.cli import main
    from radgen.experiments import classify as classify_mod

    argv = ["classify", "--data", "pneumoniamnist", "--seeds", "1", "--output-dir", str(tmp_path)]
    assert main([*argv, "--classifier", "resnet18", "--set", "classifier_options.width=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("radgen: error: classifier 'resnet18' with options {'width': 0}") and not any(
        tmp_path.iterdir()
    )

    def broken(*args, **kwargs):
        raise RuntimeError("a fit that fails after the folder was made")

    monkeypatch.setattr(classify_mod, "train_seeds", broken)
    with pytest.raises(RuntimeError, match="after the folder was made"):
        main([*argv, "--set", "max_train=64", "--set", "train.epochs=1"])
    assert not any(tmp_path.iterdir())
