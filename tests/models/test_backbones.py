"""Design document 003's GM-VAE networks: VGG16 / DenseNet121 features in torchvision's layout, weight files,
the frozen encoder and its feature memo, the transition layer, Decoders 1 and 2 (Tables 2, 3, 5)."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn

from radgen.errors import ConfigError, MissingDataError
from radgen.models import build_model, load_exported, save_exported
from radgen.nn.backbones import DenseNet121Features, VGG16Features, load_backbone_weights
from radgen.nn.decoders import LinearDecoder, TransposedConvDecoder
from radgen.nn.encoders import TransitionLayer

# torchvision.models.vgg16().features.state_dict(): every key and shape (published layout, written out by hand).
VGG16_LAYOUT = {
    "features.0": (64, 3),
    "features.2": (64, 64),
    "features.5": (128, 64),
    "features.7": (128, 128),
    "features.10": (256, 128),
    "features.12": (256, 256),
    "features.14": (256, 256),
    "features.17": (512, 256),
    "features.19": (512, 512),
    "features.21": (512, 512),
    "features.24": (512, 512),
    "features.26": (512, 512),
    "features.28": (512, 512),
}
# torchvision.models.densenet121().features.state_dict(): keys and shapes at each block's ends and every transition.
DENSENET121_KEYS = {
    "features.conv0.weight": (64, 3, 7, 7),
    "features.norm0.weight": (64,),
    "features.norm0.running_var": (64,),
    "features.norm0.num_batches_tracked": (),
    "features.denseblock1.denselayer1.norm1.weight": (64,),
    "features.denseblock1.denselayer1.conv1.weight": (128, 64, 1, 1),
    "features.denseblock1.denselayer1.norm2.bias": (128,),
    "features.denseblock1.denselayer1.conv2.weight": (32, 128, 3, 3),
    "features.denseblock1.denselayer6.conv1.weight": (128, 224, 1, 1),
    "features.transition1.norm.weight": (256,),
    "features.transition1.conv.weight": (128, 256, 1, 1),
    "features.denseblock2.denselayer1.norm1.running_mean": (128,),
    "features.denseblock2.denselayer12.conv1.weight": (128, 480, 1, 1),
    "features.transition2.conv.weight": (256, 512, 1, 1),
    "features.denseblock3.denselayer24.conv1.weight": (128, 992, 1, 1),
    "features.transition3.conv.weight": (512, 1024, 1, 1),
    "features.denseblock4.denselayer1.norm1.weight": (512,),
    "features.denseblock4.denselayer16.conv1.weight": (128, 992, 1, 1),
    "features.denseblock4.denselayer16.conv2.weight": (32, 128, 3, 3),
    "features.norm5.weight": (1024,),
    "features.norm5.running_var": (1024,),
}


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def densenet121_parameters_by_formula() -> int:
    """Huang et al. 2017: stem 7x7 conv (bias-free) + BN; dense layer on c inputs: BN(c) + 1x1 (c -> 128) + BN(128)
    + 3x3 (128 -> 32); transition on c: BN(c) + 1x1 (c -> c/2); final BN(1024). BN holds 2 parameters per channel."""
    total, c = 3 * 64 * 7 * 7 + 2 * 64, 64
    for i, layers in enumerate((6, 12, 24, 16)):
        for _ in range(layers):
            total += 2 * c + c * 128 + 2 * 128 + 128 * 32 * 9
            c += 32
        if i < 3:
            total += 2 * c + c * (c // 2)
            c //= 2
    return total + 2 * c


def test_vgg16_features_have_table5s_parameter_count_and_torchvisions_keys():
    net = VGG16Features()
    by_formula = sum(cout * cin * 9 + cout for cout, cin in VGG16_LAYOUT.values())
    assert n_params(net) == by_formula == 14_714_688  # 003 Table 5, torchvision vgg16().features
    expected = {}
    for k, (cout, cin) in VGG16_LAYOUT.items():
        expected[f"{k}.weight"], expected[f"{k}.bias"] = (cout, cin, 3, 3), (cout,)
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == expected
    assert net(torch.rand(1, 3, 64, 64)).shape == (1, 512, 2, 2)  # five /2 pools


def test_densenet121_features_match_torchvision_count_and_layout():
    net = DenseNet121Features()
    assert n_params(net) == densenet121_parameters_by_formula() == 6_953_856  # torchvision densenet121().features
    state = net.state_dict()
    # 58 dense layers x 12 entries (2 convs, 2 BNs of 5) + stem conv + 2 x BN(5) + 3 transitions x 6 = 725
    assert len(state) == 725
    for k, shape in DENSENET121_KEYS.items():
        assert tuple(state[k].shape) == shape, k
    assert net(torch.rand(1, 3, 64, 64)).shape == (1, 1024, 2, 2)


def test_transition_layer_is_conv_bn_relu_maxpool7_at_224px():
    torch.manual_seed(0)
    t = TransitionLayer(512, 300).eval()
    h = torch.randn(2, 512, 7, 7)  # VGG16 features at 224 px
    out = t(h)
    assert out.shape == (2, 300)
    reference = nn.MaxPool2d(7)(torch.relu(t.norm(t.conv(h)))).flatten(1)  # 003 Sec. 4, kernel 7 on the 7x7 map
    torch.testing.assert_close(out, reference, rtol=0, atol=0)
    assert n_params(t) == 512 * 300 + 300 + 2 * 300


@pytest.mark.parametrize(
    "kind,c0,weights,biases", [("decoder1", 14, 1_920, 15), ("decoder2", 128, 172_800, 115)]
)  # 003 Tables 2, 3 and 5
def test_decoders_1_and_2_are_tables_2_and_3(kind, c0, weights, biases):
    d = TransposedConvDecoder(kind, 10, 224, 3)
    convs = [m for m in d.net if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == 4 and all(
        m.kernel_size == (4, 4) and m.stride == (2, 2) and m.padding == (1, 1) for m in convs
    )
    assert sum(m.weight.numel() for m in convs) == weights
    assert n_params(d.net) == weights + biases
    assert convs[0].in_channels == c0 and (d.c0, d.s0) == (c0, 14)  # a 14 x 14 x C0 input map
    assert d.project.out_features == c0 * 14 * 14
    assert d(torch.randn(1, 10)).shape == (1, 3, 224, 224)


def test_linear_decoder_shapes():
    d = LinearDecoder(6, 32, 3, [16])
    assert d(torch.randn(2, 6)).shape == (2, 3, 32, 32)
    assert n_params(d) == 6 * 16 + 16 + 16 * 3 * 32 * 32 + 3 * 32 * 32


# --------------------------------------------------------------------------- weight files
def small(arch: str, channels: int = 3):
    torch.manual_seed(1)
    return (VGG16Features if arch == "vgg16" else DenseNet121Features)(channels, width=1 / 16)


def test_a_torch_saved_imagenet_file_loads_with_weights_only_and_the_run_records_its_sha256(tmp_path):
    torch.manual_seed(2)
    state = VGG16Features().state_dict()
    state["classifier.0.weight"] = torch.zeros(4, 4)  # whole-network files carry a head the encoder drops
    path = tmp_path / "vgg16-imagenet.pth"
    torch.save(state, path)
    cfg = {"name": "gmvae", "encoder": "vgg16", "encoder_weights": str(path), "latent_dim": 4, "components": 2}
    m = build_model({**cfg, "decoder": "decoder1"}, image_size=32, channels=3, num_classes=2)
    for k, v in m.encoder.backbone.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert m.pretrained == {
        "encoder": "vgg16",
        "encoder_weights": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    save_exported(m.eval(), tmp_path / "e")
    path.unlink()  # an export holds every weight: loading it never reads the original file
    loaded, _ = load_exported(tmp_path / "e")
    assert torch.equal(loaded.encoder.backbone.features[0].weight, state["features.0.weight"])
    fresh = build_model(
        {**cfg, "encoder_weights": None, "encoder_width": 1 / 16}, image_size=32, channels=3, num_classes=2
    )
    assert fresh.pretrained == {"encoder": "vgg16", "encoder_weights": "random init"}


def test_safetensors_features_only_and_old_densenet_names_load(tmp_path):
    from safetensors.torch import save_file

    src = small("densenet121")
    old = {}
    for (
        k,
        v,
    ) in (
        src.state_dict().items()
    ):  # torchvision's download files: "norm.1" for "norm1", no "features." when saved from .features
        k = k.removeprefix("features.")
        for a in ("norm", "relu", "conv"):
            for i in "12":
                k = k.replace(f".{a}{i}.", f".{a}.{i}.")
        old[k] = v.clone()
    assert "denseblock1.denselayer1.norm.1.weight" in old
    save_file(old, str(tmp_path / "d.safetensors"))
    dst = small("densenet121")
    with torch.no_grad():
        for p in dst.parameters():
            p.zero_()
    got = load_backbone_weights(dst, tmp_path / "d.safetensors")
    want, have = src.state_dict(), dst.state_dict()
    assert got["keys"] == len(want)
    for k, v in want.items():
        assert torch.equal(have[k], v), k


def test_a_grey_backbone_takes_the_rgb_filters_summed(tmp_path):
    rgb = small("vgg16", 3)
    torch.save(rgb.state_dict(), tmp_path / "rgb.pt")
    grey = small("vgg16", 1)
    load_backbone_weights(grey, tmp_path / "rgb.pt")
    x = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(grey(x), rgb(x.expand(-1, 3, -1, -1)), rtol=1e-5, atol=1e-5)


class NotATensor:
    pass


@pytest.mark.parametrize("problem", ["other network", "other shape", "not a state dict", "pickled object", "missing"])
def test_a_file_that_does_not_match_is_a_one_line_error_naming_it(tmp_path, problem):
    path = tmp_path / "w.pth"
    if problem == "other network":
        torch.save(small("densenet121").state_dict(), path)
    elif problem == "other shape":
        torch.save(VGG16Features(3, width=1 / 8).state_dict(), path)
    elif problem == "not a state dict":
        torch.save([torch.zeros(1)], path)
    elif problem == "pickled object":
        torch.save({"w": NotATensor()}, path)  # weights_only refuses arbitrary classes
    err = MissingDataError if problem == "missing" else ConfigError
    with pytest.raises(err) as e:
        load_backbone_weights(small("vgg16"), path)
    msg = str(e.value)
    assert str(path) in msg and "\n" not in msg
    if problem == "other network":
        assert "keys missing" in msg and "features.0.weight" in msg and "vgg16" in msg
    if problem == "other shape":
        assert "of another shape" in msg and "(8, 3, 3, 3) != (4, 3, 3, 3)" in msg


def test_weights_need_the_published_width():
    with pytest.raises(ConfigError, match="encoder_width=1.0"):
        build_model(
            {"name": "gmvae", "encoder": "vgg16", "encoder_weights": "x.pth", "encoder_width": 0.5},
            image_size=32,
            channels=3,
            num_classes=2,
        )
    with pytest.raises(ConfigError, match="needs a pretrained backbone"):
        build_model({"name": "gmvae", "transition": "conv_pool"}, image_size=32, channels=3, num_classes=2)


# --------------------------------------------------------------------------- frozen encoder ("Encoder in Eval")
def frozen(decoder: str = "decoder1", **over):
    torch.manual_seed(3)
    cfg = {
        "name": "gmvae",
        "encoder": "densenet121",
        "encoder_width": 1 / 16,
        "transition": "conv_pool",
        "transition_channels": 8,
        "freeze_encoder": True,
        "decoder": decoder,
        "latent_dim": 4,
        "components": 2,
        **over,
    }
    return build_model(cfg, image_size=32, channels=3, num_classes=2)


def test_a_frozen_encoder_stays_in_eval_takes_no_gradient_and_computes_each_image_once():
    a, b = frozen("decoder1"), frozen("decoder2")  # same seed, same backbone weights: one shared memo
    a.train()
    assert not a.encoder.backbone.training and a.encoder.transition.training
    assert not any(p.requires_grad for p in a.encoder.backbone.parameters())
    assert all(p.requires_grad for p in a.encoder.transition.parameters())
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        direct = a.encoder.backbone(x)
    cache = a.encoder.cache
    before = (cache.hits, cache.misses)
    with torch.inference_mode():  # a memo filled during validation must serve a training step
        first = a.encoder.features(x)
    second = b.encoder.features(x[[2, 0]])
    assert b.encoder.cache is cache
    assert (cache.hits - before[0], cache.misses - before[1]) == (2, 4)
    torch.testing.assert_close(first, direct, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(second, direct[[2, 0]], rtol=0, atol=0)
    b.train()
    b((x, torch.tensor([0, 1, 0, 1]))).loss.backward()  # from the memo, with gradients for the layers after it
    assert b.encoder.transition.conv.weight.grad is not None
    other = frozen(feature_cache_mb=1.0)
    assert other.encoder.cache is cache
    with torch.no_grad():
        for p in other.encoder.backbone.parameters():
            p.mul_(0.5)
    other.load_state_dict(other.state_dict())  # new weights -> another fingerprint -> another memo
    assert other.encoder.cache is not cache
