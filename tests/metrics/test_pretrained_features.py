"""rad-dino and xrv-densenet121 load user-given files (random weights written here: no download), give
deterministic features of the documented dimension, and refuse a missing or mismatched file in one line."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from radgen.errors import ConfigError, MissingDataError
from radgen.metrics.features import FEATURES, get_extractor

SMALL_DINO = {
    "model_type": "dinov2",
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "mlp_ratio": 4,
    "patch_size": 14,
    "image_size": 28,
    "num_channels": 3,
    "layer_norm_eps": 1e-6,
    "layerscale_value": 1.0,
    "hidden_act": "gelu",
}


def _dino_folder(path, seed, cfg=SMALL_DINO):
    from radgen.nn.dinov2 import Dinov2, check_dinov2_config

    torch.manual_seed(seed)
    net = Dinov2(**check_dinov2_config(cfg, "test"))
    for p in net.parameters():  # random everywhere, the zero-initialised tokens included
        torch.nn.init.normal_(p, std=0.2)
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path / "model.safetensors"))
    return path


def _one_line(exc_info):
    msg = str(exc_info.value)
    assert "\n" not in msg and len(msg) < 400
    return msg


def test_both_are_registered_and_named_like_chexgenbench():
    assert {"rad-dino", "xrv-densenet121"} <= set(FEATURES.names())


def test_rad_dino_loads_random_weights_and_gives_deterministic_features(tmp_path, monkeypatch):
    folder = _dino_folder(tmp_path / "a", seed=0)
    ex = get_extractor("rad-dino", rad_dino=str(folder))
    assert ex.name == "rad-dino" and ex.distance_name == "FD_rad-dino" and ex.dim == SMALL_DINO["hidden_size"]
    x = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    f = ex(x)
    assert f.shape == (3, 32) and f.dtype == torch.float64 and torch.isfinite(f).all()
    assert not torch.allclose(f[0], f[1])  # depends on the image
    # the final layer norm (weights ~ N(0, 0.2^2), not 1) applied: the class token's features are not constant
    monkeypatch.setenv("RADGEN_RAD_DINO", str(folder))
    again = get_extractor("rad-dino")  # from the environment variable
    torch.testing.assert_close(again(x), f, rtol=0, atol=0)
    assert again.weights_sha256 == ex.weights_sha256
    from safetensors.torch import load_file

    headed = tmp_path / "headed"
    headed.mkdir()
    (headed / "config.json").write_text((folder / "config.json").read_text())
    state = {f"dinov2.{k}": v for k, v in load_file(str(folder / "model.safetensors")).items()}
    save_file(state | {"classifier.weight": torch.zeros(2, 64)}, str(headed / "model.safetensors"))
    torch.testing.assert_close(get_extractor("rad-dino", rad_dino=str(headed))(x), f, rtol=0, atol=0)
    other = get_extractor("rad-dino", rad_dino=str(_dino_folder(tmp_path / "b", seed=1)))
    assert other.weights_sha256 != ex.weights_sha256 and not torch.allclose(other(x), f)  # the file's weights used


def test_rad_dino_matches_a_hand_written_vit_forward(tmp_path):
    """The block written out by hand from the DINOv2 definition (pre-norm, layer scale, exact GELU, softmax
    attention with 1/sqrt(head_dim)) on the file's tensors."""
    folder = _dino_folder(tmp_path / "a", seed=3)
    from safetensors.torch import load_file

    w = load_file(str(folder / "model.safetensors"))
    ex = get_extractor("rad-dino", rad_dino=str(folder))
    x = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(2))
    m, s = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    got = ex(x)  # 3-channel input at the config's size: grey mean then replicated, as documented
    g = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    p = torch.nn.functional.conv2d((g - m) / s, w["embeddings.patch_embeddings.projection.weight"],
                                   w["embeddings.patch_embeddings.projection.bias"], stride=14)  # fmt: skip
    h = torch.cat([w["embeddings.cls_token"].expand(2, -1, -1), p.flatten(2).transpose(1, 2)], 1)
    h = h + w["embeddings.position_embeddings"]

    def ln(t, pre):
        return torch.nn.functional.layer_norm(t, (32,), w[pre + ".weight"], w[pre + ".bias"], eps=1e-6)

    def lin(t, pre):
        return t @ w[pre + ".weight"].T + w[pre + ".bias"]

    for i in range(2):
        pre = f"encoder.layer.{i}."
        a = ln(h, pre + "norm1")
        q, k, v = (
            lin(a, pre + f"attention.attention.{n}").view(2, 5, 4, 8).transpose(1, 2)
            for n in ("query", "key", "value")
        )
        att = torch.softmax(q @ k.transpose(-1, -2) / 8**0.5, -1) @ v
        h = (
            h
            + lin(att.transpose(1, 2).reshape(2, 5, 32), pre + "attention.output.dense")
            * w[pre + "layer_scale1.lambda1"]
        )
        mlp = lin(torch.nn.functional.gelu(lin(ln(h, pre + "norm2"), pre + "mlp.fc1")), pre + "mlp.fc2")
        h = h + mlp * w[pre + "layer_scale2.lambda1"]
    want = ln(h, "layernorm")[:, 0]
    torch.testing.assert_close(got, want.double(), rtol=1e-4, atol=1e-5)


def test_rad_dino_refuses_missing_and_mismatched_files_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("RADGEN_RAD_DINO", raising=False)
    with pytest.raises(MissingDataError, match="RADGEN_RAD_DINO") as e:
        get_extractor("rad-dino")
    assert "does not download" in _one_line(e)
    with pytest.raises(MissingDataError, match="no such folder") as e:
        get_extractor("rad-dino", rad_dino=str(tmp_path / "nowhere"))
    _one_line(e)
    folder = _dino_folder(tmp_path / "a", seed=0)
    (folder / "config.json").write_text(json.dumps({**SMALL_DINO, "hidden_size": 64, "num_attention_heads": 4}))
    with pytest.raises(ConfigError, match=r"model.safetensors: not DINOv2 weights matching config.json.*shapes") as e:
        get_extractor("rad-dino", rad_dino=str(folder))
    _one_line(e)
    (folder / "config.json").write_text(json.dumps({**SMALL_DINO, "model_type": "vit"}))
    with pytest.raises(ConfigError, match="model_type 'vit'") as e:
        get_extractor("rad-dino", rad_dino=str(folder))
    _one_line(e)
    (folder / "model.safetensors").unlink()
    with pytest.raises(MissingDataError, match="model.safetensors: missing") as e:
        get_extractor("rad-dino", rad_dino=str(folder))
    _one_line(e)


def _xrv_file(path, seed):
    from radgen.nn.densenet_xrv import XRVDenseNet121

    torch.manual_seed(seed)
    net = XRVDenseNet121()
    for mod in net.modules():  # random batch-norm statistics too, as a trained file has
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.1)
            mod.running_var.uniform_(0.5, 2)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    state |= {
        "classifier.weight": torch.randn(18, 1024),
        "classifier.bias": torch.zeros(18),
        "op_threshs": torch.rand(18),
    }
    save_file(state, str(path))
    return path, net


def test_xrv_densenet121_has_the_published_architecture_and_loads_random_weights(tmp_path, monkeypatch):
    from radgen.nn.densenet_xrv import XRVDenseNet121

    trunk = XRVDenseNet121()
    # torchvision's densenet121 has 7,978,856 parameters: minus its 1000-class head (1024*1000 + 1000) and minus
    # two of conv0's three input channels (2 * 64 * 7 * 7) for torchxrayvision's one grey channel
    assert sum(p.numel() for p in trunk.parameters()) == 7_978_856 - 1_025_000 - 2 * 64 * 49
    keys = trunk.state_dict()
    assert "features.denseblock4.denselayer16.conv2.weight" in keys and "features.transition3.conv.weight" in keys
    f, net = _xrv_file(tmp_path / "xrv.safetensors", seed=0)
    ex = get_extractor("xrv-densenet121", xrv_densenet121=str(f))
    assert ex.name == "xrv-densenet121" and ex.distance_name == "FD_xrv-densenet121" and ex.dim == 1024
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    feats = ex(x)
    assert feats.shape == (2, 1024) and (feats >= 0).all() and not torch.allclose(feats[0], feats[1])
    net.eval()
    want = net(torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True) * 2048 - 1024)
    torch.testing.assert_close(feats, want.double(), rtol=1e-4, atol=1e-4)
    monkeypatch.setenv("RADGEN_XRV_DENSENET121", str(f))
    torch.testing.assert_close(get_extractor("xrv-densenet121")(x), feats, rtol=0, atol=0)


def test_xrv_densenet121_refuses_missing_and_mismatched_files_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("RADGEN_XRV_DENSENET121", raising=False)
    with pytest.raises(MissingDataError, match="RADGEN_XRV_DENSENET121") as e:
        get_extractor("xrv-densenet121")
    _one_line(e)
    with pytest.raises(MissingDataError, match="no such file") as e:
        get_extractor("xrv-densenet121", xrv_densenet121=str(tmp_path / "none.safetensors"))
    _one_line(e)
    bad = tmp_path / "other.safetensors"
    save_file({"features.conv0.weight": torch.zeros(64, 3, 7, 7)}, str(bad))
    with pytest.raises(ConfigError, match="not torchxrayvision's DenseNet-121") as e:
        get_extractor("xrv-densenet121", xrv_densenet121=str(bad))
    assert "(64, 3, 7, 7) != (64, 1, 7, 7)" in _one_line(e)
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"x")
    with pytest.raises(ConfigError, match="not a .safetensors file") as e:
        get_extractor("xrv-densenet121", xrv_densenet121=str(pt))
    _one_line(e)
