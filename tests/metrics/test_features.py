"""Feature extractors: inception refuses without its weights; the domain extractor is trained, cached and hashed."""

from __future__ import annotations

import pytest
import torch

from radgen.data import DataConfig, load_dataset
from radgen.errors import ConfigError, MissingDataError
from radgen.metrics.features import FEATURES, get_extractor


def test_inception_without_weights_raises_the_documented_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RADGEN_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(
        MissingDataError, match=r"pt_inception-2015-12-05-6726825d.pth.*does not download.*never a number named FID"
    ):
        get_extractor("inception")
    assert {"inception", "radgen-cnn001"} <= set(FEATURES.names())


def test_inception_rejects_a_file_that_is_not_its_weights(tmp_path):
    f = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    f.write_bytes(b"not really weights")
    with pytest.raises(ConfigError, match="cannot be read as Inception-v3 weights"):
        get_extractor("inception", weights=str(f))
    torch.save({"conv.weight": torch.zeros(3)}, f)
    with pytest.raises(ConfigError, match="not the FID Inception-v3 weights"):
        get_extractor("inception", weights=str(f))


def test_inception_network_loads_a_state_dict_of_the_published_layout(tmp_path):
    """The published file's key names and shapes; a file whose hash is not the published one
    gives features but its distance is never called FID."""
    from radgen.nn.inception import FIDInceptionV3

    state = FIDInceptionV3().state_dict()
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3) and state["fc.weight"].shape == (1008, 2048)
    assert state["Mixed_7c.branch_pool.conv.weight"].shape == (192, 2048, 1, 1) and state[
        "Mixed_6e.branch7x7_1.conv.weight"
    ].shape == (192, 768, 1, 1)
    f = tmp_path / "random-inception.pth"
    torch.save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, f)  # like the published file
    ex = get_extractor("inception", weights=str(f))
    assert (
        ex.name == "inception-unverified"
        and ex.distance_name == "FD_inception-unverified"
        and not ex.record["verified"]
    )
    feats = ex(torch.rand(2, 1, 28, 28))
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all() and (feats >= 0).all()  # pool3 of ReLU maps
    p = ex.probs_fn(torch.rand(2, 3, 64, 64))
    assert p.shape == (2, 1008) and torch.allclose(p.sum(1), torch.ones(2, dtype=p.dtype))


def test_domain_extractor_is_trained_once_cached_and_hashed(tmp_path):
    cfg = DataConfig(name="pneumoniamnist")
    ex = get_extractor("radgen-cnn001", data_config=cfg, cache_dir=tmp_path, epochs=1)
    assert ex.distance_name == "FD_radgen-cnn001" and ex.dim == 128 and len(ex.weights_sha256) == 64
    r = ex.record
    assert (
        r["dataset"] == "pneumoniamnist" and r["train_images"] + r["selection_images"] == 4708
    )  # official train only
    assert r["heldout_images_unused"] == 524 + 624  # official val and test: never trained on
    f = ex(torch.rand(5, 1, 28, 28))
    assert f.shape == (5, 128) and f.dtype == torch.float64
    again = get_extractor("radgen-cnn001", data_config=cfg, cache_dir=tmp_path, epochs=1)
    assert again.weights_sha256 == ex.weights_sha256  # loaded from the cache, not retrained
    torch.testing.assert_close(again(torch.ones(2, 1, 28, 28)), ex(torch.ones(2, 1, 28, 28)))
    assert ex(torch.rand(2, 3, 56, 56)).shape == (
        2,
        128,
    )  # colour and other sizes are mapped to what it was trained on
    # trained again elsewhere, after the caller's global RNG has moved on: the same weights (seeded init and
    # training; the two fresh-cache demo runs of 2026-12-01/02 got different extractors before this)
    torch.rand(1000)
    fresh = get_extractor("radgen-cnn001", data_config=cfg, cache_dir=tmp_path / "other", epochs=1)
    assert fresh.weights_sha256 == ex.weights_sha256


def test_inference_form_of_inception_gives_the_published_networks_features():
    """BatchNorm folded into the convolutions and NHWC layout (the speed-up the extractor uses)
    change the pool3 features and logits only by float32 rounding, with non-trivial BN statistics."""
    from radgen.nn.inception import BasicConv2d, FIDInceptionV3

    torch.manual_seed(0)
    net = FIDInceptionV3().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    x = torch.rand(3, 1, 40, 40)
    with torch.no_grad():
        ref_pool, ref_logits = net(x)
        fast = FIDInceptionV3().eval()
        fast.load_state_dict(net.state_dict())
        fast.for_inference()
        pool, logits = fast(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert all(m.conv.bias is not None for m in fast.modules() if isinstance(m, BasicConv2d))
    assert fast.Conv2d_1a_3x3.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert ref_pool.abs().max() > 0.1  # the check is not vacuous: features are not all zero
    torch.testing.assert_close(pool, ref_pool, rtol=1e-4, atol=1e-4 * float(ref_pool.abs().max()))
    torch.testing.assert_close(logits, ref_logits, rtol=1e-4, atol=1e-4 * float(ref_logits.abs().max()))


def test_features_and_probs_in_one_pass_equal_the_separate_calls(tmp_path):
    from radgen.nn.inception import FIDInceptionV3

    f = tmp_path / "random-inception.pth"
    torch.save({k: v for k, v in FIDInceptionV3().state_dict().items() if not k.endswith("num_batches_tracked")}, f)
    ex = get_extractor("inception", weights=str(f))
    x = torch.rand(3, 1, 32, 32)
    calls = []
    inner = ex.joint_fn
    ex.joint_fn = lambda t: calls.append(len(t)) or inner(t)
    feats, probs = ex.features_and_probs(x, batch_size=2)
    assert calls == [2, 1]  # one pass per batch, features and probabilities together
    torch.testing.assert_close(feats, ex(x))
    torch.testing.assert_close(probs, ex.probs_fn(x).double())
    ex.joint_fn = None  # an extractor without the joint pass falls back to two
    f2, p2 = ex.features_and_probs(x)
    torch.testing.assert_close(f2, feats)
    torch.testing.assert_close(p2, probs)


def test_label_free_extractor_is_trained_without_labels_cached_and_hashed(tmp_path):
    cfg = DataConfig(name="pneumoniamnist", val_from_train=0.1)
    ex = get_extractor("radgen-ae001", data_config=cfg, cache_dir=tmp_path, epochs=1)
    assert ex.distance_name == "FD_radgen-ae001" and ex.dim == 176 and len(ex.weights_sha256) == 64
    r = ex.record
    ds = load_dataset(cfg, progress=False)
    assert r["train_images"] + r["selection_images"] == len(ds["train"])  # the run's training split only
    assert r["heldout_images_unused"] == len(ds["val"]) + 524 + 624  # its val, the official val and test: never seen
    assert r["history"][0]["train_mse"] < 0.1 and ex.probs_fn is None  # learnt something; no label head
    f = ex(torch.rand(4, 3, 56, 56))
    assert f.shape == (4, 176) and f.dtype == torch.float64
    again = get_extractor("radgen-ae001", data_config=cfg, cache_dir=tmp_path, epochs=1)
    assert again.weights_sha256 == ex.weights_sha256
    torch.testing.assert_close(again(torch.ones(2, 1, 28, 28)), ex(torch.ones(2, 1, 28, 28)))
