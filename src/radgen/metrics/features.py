"""Feature extractors for distribution metrics, pluggable and always named in the output.

- ``inception``: the TF-ported Inception-v3 pool3 features (2048-d) that pytorch-fid and
  torch-fidelity use, from a weight file the user provides (``--inception-weights PATH`` or
  ``$RADGEN_INCEPTION_WEIGHTS``, else the usual cache paths below). radgen does not download
  it, and without it the extractor refuses: radgen never reports a number named FID from
  other or random weights. Only this extractor's Frechet distance is called "FID".
- ``radgen-cnn001``: a domain extractor: design document 001's CNN trained by radgen on the
  real training split of the dataset being evaluated (patient-level val 10 %), penultimate
  128-d activations. It is cached by dataset and options, and its weights' sha256 and
  training record go into every metrics.json. Its distance is reported as ``FD_radgen-cnn001``.
- ``radgen-ae001``: a label-free domain extractor: a small convolutional autoencoder trained
  by radgen (MSE, no labels) on the same training split; its 128-d bottleneck and its first
  layers' local contrast (176-d, standardised; see ``radgen.metrics.ae001``). Cached and
  hashed the same way; ``FD_radgen-ae001``. A second view that no label supervision shaped.
- ``rad-dino``: RAD-DINO (a DINOv2 ViT trained on chest X-rays; the view CheXGenBench reports FD on), from
  a folder the user gives (``config.json`` + ``model.safetensors``; ``rad_dino=PATH`` or ``$RADGEN_RAD_DINO``),
  built in plain torch with ``transformers``' ``Dinov2Model`` key names; class token, ``hidden_size``-d
  (768); ``FD_rad-dino``.
- ``xrv-densenet121``: torchxrayvision's chest X-ray DenseNet-121, from a safetensors state dict the user
  gives (``xrv_densenet121=PATH`` or ``$RADGEN_XRV_DENSENET121``); ``features2``, 1024-d;
  ``FD_xrv-densenet121``.
- ``radiomics``: weight-free: radgen's named first-order intensity and GLCM texture features (24-d,
  ``radgen.metrics.radiomics``); ``FD_radiomics``.

None of the pretrained extractors downloads anything; without its file each refuses in one line.

Both domain extractors train on the run's training split only (the run's own
``val_from_train`` and seed, so never on its held-out reference images), with 10 % of that
split (patient-level) kept for the extractor's own selection or loss report.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from radgen.errors import ConfigError, MissingDataError
from radgen.io import sha256_file
from radgen.registry import Registry

INCEPTION_FILES = ("pt_inception-2015-12-05-6726825d.pth", "weights-inception-2015-12-05-6726825d.pth")
INCEPTION_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)


@dataclass
class FeatureExtractor:
    """A named feature map (images -> features) with its distance's name, weights hash and record."""

    name: str  # e.g. "radgen-cnn001"
    distance_name: str  # "FID" for inception only, else "FD_<name>"
    dim: int
    weights_sha256: str
    record: dict[str, Any] = field(default_factory=dict)  # training data, preprocessing...
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    probs_fn: Callable[[torch.Tensor], torch.Tensor] | None = (
        None  # class probabilities, for an Inception-Score-style number
    )
    joint_fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = (
        None  # (features, probabilities) in one pass
    )

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] -> (N, dim) float64 features."""
        return torch.cat([self.fn(images[s : s + batch_size]).double() for s in range(0, len(images), batch_size)])

    @torch.no_grad()
    def features_and_probs(
        self, images: torch.Tensor, *, batch_size: int = 256
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features (N, dim) float64 and class probabilities (N, K) float64, or None when the
        extractor has no classifier head; one pass through the network when it offers ``joint_fn``."""
        if self.joint_fn is None and self.probs_fn is None:
            return self(images, batch_size=batch_size), None
        joint = self.joint_fn or (lambda x: (self.fn(x), self.probs_fn(x)))
        parts = [joint(images[s : s + batch_size]) for s in range(0, len(images), batch_size)]
        return torch.cat([f for f, _ in parts]).double(), torch.cat([p for _, p in parts]).double()


FEATURES: Registry[Callable[..., FeatureExtractor]] = Registry("feature extractor")


def find_inception_weights(path: str | None = None) -> Path:
    """The FID Inception weights: ``path``, $RADGEN_INCEPTION_WEIGHTS, torch hub's or radgen's cache; no download."""
    candidates = [Path(path)] if path else []
    env = os.environ.get("RADGEN_INCEPTION_WEIGHTS")
    if env:
        candidates.append(Path(env))
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
    for name in INCEPTION_FILES:
        candidates += [hub / name, Path.home() / ".cache" / "radgen" / "weights" / name]
    for c in candidates:
        if c.is_file():
            return c
    raise MissingDataError(
        "the 'inception' extractor needs the TF-ported Inception-v3 FID weights "
        f"({INCEPTION_FILES[0]}, as used by pytorch-fid); "
        f"radgen does not download them: fetch {INCEPTION_URL} and pass --inception-weights PATH "
        "(or set RADGEN_INCEPTION_WEIGHTS, "
        f"or put it in {hub}); without it radgen reports FD under its other extractors and never a number named FID"
    )


INCEPTION_SHA256_PREFIX = "6726825d"  # torch-hub naming: the file name ends with its sha256's first digits


def load_fid_inception(path: Path):
    """The FID Inception-v3 with the weights of ``path`` (a state dict: .pth loaded with
    ``weights_only=True``, never an arbitrary pickle, or .safetensors)."""
    from radgen.nn.inception import FIDInceptionV3
    from radgen.nn.weights import read_state_dict

    net = FIDInceptionV3()
    state = read_state_dict(
        path, what="Inception-v3 weights", fix=f"expected {INCEPTION_FILES[0]} from {INCEPTION_URL}"
    )
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ConfigError(
            f"{path}: not the FID Inception-v3 weights (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}); expected {INCEPTION_FILES[0]} from {INCEPTION_URL}"
        )
    return net.eval()


@FEATURES.register(
    "inception",
    "Inception-v3 pool3 (2048-d), TF-ported FID weights from a user-given file; the only extractor "
    "whose distance is called FID",
)
def inception_extractor(*, weights: str | None = None, **_: Any) -> FeatureExtractor:
    """pool3 features of the TF-ported Inception-v3. Its Frechet distance is named ``FID`` only
    when the file's sha256 starts with the published prefix; otherwise ``FD_inception-unverified``."""
    path = find_inception_weights(weights)
    net = load_fid_inception(path).for_inference()
    digest = sha256_file(path)
    verified = digest.startswith(INCEPTION_SHA256_PREFIX)
    record = {
        "weights_file": str(path),
        "verified": verified,
        "preprocessing": "grey replicated to RGB, bilinear resize to 299x299, scaled to [-1, 1]",
    }
    if not verified:
        record["note"] = (
            f"sha256 {digest[:16]}... does not start with {INCEPTION_SHA256_PREFIX}: not the "
            "published FID weights, so the distance is not called FID"
        )

    def fn(x: torch.Tensor) -> torch.Tensor:
        return net(x)[0]

    def joint_fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pool3, logits = net(x)
        return pool3, torch.softmax(logits, 1)

    def probs_fn(x: torch.Tensor) -> torch.Tensor:
        return joint_fn(x)[1]

    name = "inception" if verified else "inception-unverified"
    return FeatureExtractor(name, "FID" if verified else f"FD_{name}", 2048, digest, record, fn, probs_fn, joint_fn)


def _training_split(data_config, seed: int, progress: bool):
    """The run's training split (its own ``val_from_train`` and seed, so the extractor never sees
    the run's held-out reference images) and a patient-level 10 % of it for the extractor's own
    model selection."""
    from radgen.data import load_dataset
    from radgen.data.splits import split_imageset

    ds = load_dataset(data_config, progress=progress)
    fit, select = split_imageset(ds["train"], 0.1, seed=seed)
    heldout = sum(len(v) for k, v in ds.items() if k != "train")
    return ds, fit, select, heldout


def _cache_paths(prefix: str, dcfg, options: dict[str, Any], cache_dir: Path | None) -> tuple[Path, Path]:
    from radgen.config import to_dict
    from radgen.data.root import cache_dir as default_cache
    from radgen.data.root import data_root

    key = hashlib.sha1(
        json.dumps({"data": to_dict(dcfg), **options}, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]
    folder = (cache_dir or default_cache(data_root(dcfg.data_dir))) / "extractors"
    return folder / f"{prefix}-{dcfg.name}-{key}.safetensors", folder / f"{prefix}-{dcfg.name}-{key}.json"


def _extractor_data_config(data_config):
    """What the extractors train on: the run's data (same split options), grey, unnormalised, every class."""
    from dataclasses import replace

    if data_config is None:
        raise ConfigError("radgen's domain extractors need the real dataset they are trained on (data_config)")
    return replace(data_config, channels=1, normalize="none", keep_classes=None)


def _resize_to(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[1] == 3:
        x = x.mean(1, keepdim=True)  # the extractors see grey images, as they were trained
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


@FEATURES.register(
    "radgen-cnn001",
    "design document 001's CNN trained by radgen on the real training split; penultimate 128-d "
    "features (FD_radgen-cnn001)",
)
def cnn001_extractor(
    *,
    data_config=None,
    cache_dir: Path | None = None,
    epochs: int = 8,
    seed: int = 0,
    progress: bool = False,
    **_: Any,
) -> FeatureExtractor:
    """Train (or load from the cache) the domain extractor for ``data_config``'s dataset: on the
    run's training split only (model selection on 10 % of it), never on its held-out images."""
    from safetensors.torch import load_file, save_file

    from radgen.classifiers import (
        ClassifierTrainConfig,
        build_classifier,
        classification_metrics,
        fit_classifier,
        predict_proba,
    )
    from radgen.classifiers.judge import build_seeded
    from radgen.io import atomic_path, write_json

    dcfg = _extractor_data_config(data_config)
    # v4: the network's initial weights seeded (v3 drew them from the caller's global RNG state);
    # v5: trained in channels-last layout (the same arithmetic to float32 rounding, which Adam's steps carry on)
    wpath, rpath = _cache_paths("cnn001", dcfg, {"epochs": epochs, "seed": seed, "v": 5}, cache_dir)
    if wpath.is_file() and rpath.is_file():  # cached: the record says how to rebuild the net, no data needed
        record = json.loads(rpath.read_text())
        size = int(record["image_size"])
        model = build_classifier("cnn001", in_channels=1, image_size=size, num_classes=int(record["num_classes"]))
        model.load_state_dict(load_file(str(wpath)))
    else:
        ds, fit, select, heldout = _training_split(dcfg, seed, progress)
        size = fit.image_size[0]
        model = build_seeded("cnn001", {}, fit, seed)  # seeded init: the weights follow from the seed alone
        with torch.enable_grad():  # callers may evaluate under no_grad; training needs autograd
            model, history = fit_classifier(
                model, fit, select, ClassifierTrainConfig(epochs=epochs, loss="weighted_ce", seed=seed)
            )
        # trained channels-last; served in the layout a cached copy loads in, so both give the same features
        model = model.to(memory_format=torch.contiguous_format)
        sel = classification_metrics(select.labels.numpy(), predict_proba(model, select), fit.class_names)
        with atomic_path(wpath) as tmp:
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
        record = {
            "dataset": dcfg.name,
            "path": ds.path,
            "trained_on": "the run's training split (patient-level 90 % to fit, 10 % to select the epoch); "
            "no held-out image",
            "train_images": len(fit),
            "selection_images": len(select),
            "heldout_images_unused": heldout,
            "image_size": size,
            "num_classes": fit.num_classes,
            "epochs_run": len(history),
            "selection_balanced_accuracy": sel["balanced_accuracy"],
            "selection_auroc": sel["auroc"],
            "seed": seed,
        }
        write_json(rpath, record)
    model.eval()

    def fn(x: torch.Tensor) -> torch.Tensor:
        return model.features(_resize_to(x, size))

    def joint_fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = fn(x)
        return feats, torch.softmax(model.fc2(feats), 1)

    def probs_fn(x: torch.Tensor) -> torch.Tensor:
        return joint_fn(x)[1]

    return FeatureExtractor(
        "radgen-cnn001",
        "FD_radgen-cnn001",
        128,
        sha256_file(wpath),
        {**record, "weights_file": str(wpath)},
        fn,
        probs_fn,
        joint_fn,
    )


@FEATURES.register(
    "radgen-ae001",
    "label-free: a convolutional autoencoder trained by radgen on the real training split (MSE); its 128-d "
    "bottleneck and first layers' local contrast, standardised (176-d, FD_radgen-ae001)",
)
def ae001_extractor(
    *,
    data_config=None,
    cache_dir: Path | None = None,
    epochs: int = 8,
    seed: int = 0,
    progress: bool = False,
    **_: Any,
) -> FeatureExtractor:
    """Train (or load from the cache) the label-free extractor: ``radgen.metrics.ae001``'s
    autoencoder on the run's training split, no labels; features: its bottleneck and first layers' contrast."""
    from safetensors.torch import load_file, save_file

    from radgen.io import atomic_path, write_json
    from radgen.metrics.ae001 import AE001, fit_autoencoder

    dcfg = _extractor_data_config(data_config)
    wpath, rpath = _cache_paths("ae001", dcfg, {"epochs": epochs, "seed": seed, "v": 2}, cache_dir)
    if wpath.is_file() and rpath.is_file():
        record = json.loads(rpath.read_text())
        size = int(record["image_size"])
        model = AE001(image_size=size)
        model.load_state_dict(load_file(str(wpath)))
    else:
        ds, fit, select, heldout = _training_split(dcfg, seed, progress)
        size = fit.image_size[0]
        with torch.enable_grad():
            model, history = fit_autoencoder(fit, select, epochs=epochs, seed=seed)
        with atomic_path(wpath) as tmp:
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
        record = {
            "dataset": dcfg.name,
            "path": ds.path,
            "trained_on": "the run's training split without labels (patient-level 90 % to fit, 10 % to report "
            "the loss); no held-out image",
            "train_images": len(fit),
            "selection_images": len(select),
            "heldout_images_unused": heldout,
            "image_size": size,
            "epochs_run": len(history),
            "loss": "MSE per pixel, mean over pixels and images",
            "history": history,
            "seed": seed,
        }
        write_json(rpath, record)
    model.eval()

    def fn(x: torch.Tensor) -> torch.Tensor:
        return model.features(_resize_to(x, size))

    return FeatureExtractor(
        "radgen-ae001",
        "FD_radgen-ae001",
        model.dim,
        sha256_file(wpath),
        {**record, "weights_file": str(wpath)},
        fn,
    )


def _user_file(option: str | None, env: str, what: str, expected: str, kwarg: str, kind: str = "file") -> Path:
    """The user-given weight location: ``option``, else ``$env``; missing is one line naming both and the fix."""
    given = option or os.environ.get(env)
    if not given:
        raise MissingDataError(
            f"the {what} extractor needs {expected}; radgen does not download it: pass its path "
            f"({kwarg}=PATH to the extractor) or set {env}=PATH"
        )
    path = Path(given)
    ok = path.is_dir() if kind == "folder" else path.is_file()
    if not ok:
        raise MissingDataError(f"{path}: no such {kind} for the {what} extractor ({env}); give {expected}")
    return path


def _load_exact(net: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, what: str, fix: str,
                ignore: tuple[str, ...] = ()) -> None:  # fmt: skip
    """Load ``state`` into ``net`` requiring the same keys (``ignore``'s prefixes aside) and shapes; else one line."""
    state = {k: v for k, v in state.items() if not k.startswith(ignore)}
    own = net.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in own.items() if k in state
              and state[k].shape != v.shape]  # fmt: skip
    if missing or unexpected or shapes:
        raise ConfigError(
            f"{path}: not {what} (missing {missing[:2]}, unexpected {unexpected[:2]}, shapes {shapes[:2]}); {fix}"
        )
    net.load_state_dict(state, strict=False)


RAD_DINO_ENV = "RADGEN_RAD_DINO"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@FEATURES.register(
    "rad-dino",
    "RAD-DINO (DINOv2 ViT on chest X-rays) class token from a user-given folder (config.json + model.safetensors; "
    "rad_dino= or $RADGEN_RAD_DINO); FD_rad-dino as CheXGenBench names it",
)
def rad_dino_extractor(*, rad_dino: str | None = None, **_: Any) -> FeatureExtractor:
    """RAD-DINO features (Perez-Garcia et al. 2024), the view CheXGenBench reports FD on, from a folder the user
    gives: ``config.json`` (a ``Dinov2Model`` config) and ``model.safetensors``, optionally
    ``preprocessor_config.json`` (its ``image_mean``/``image_std``; ImageNet's otherwise). Images: grey replicated
    to 3 channels, bilinear antialiased resize to the config's ``image_size`` (the published processor resizes
    bicubically: features differ from CheXGenBench's by that resampling), normalised. Keys under ``dinov2.`` (a
    checkpoint saved with a classification head) are read as the backbone's. Features: the final layer norm's
    class token (``pooler_output``), ``hidden_size``-d (768 for RAD-DINO). Built by ``radgen.nn.dinov2``."""
    from radgen.nn.dinov2 import Dinov2, check_dinov2_config
    from radgen.nn.weights import read_state_dict

    expected = "a RAD-DINO folder (config.json + model.safetensors, as published for transformers' Dinov2Model)"
    folder = _user_file(rad_dino, RAD_DINO_ENV, "rad-dino", expected, "rad_dino", kind="folder")
    cpath, wpath = folder / "config.json", folder / "model.safetensors"
    for f in (cpath, wpath):
        if not f.is_file():
            raise MissingDataError(f"{f}: missing; the rad-dino folder must hold {expected}")
    try:
        raw = json.loads(cpath.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{cpath}: not a JSON config ({exc}); give RAD-DINO's config.json") from None
    cfg = check_dinov2_config(raw if isinstance(raw, dict) else {}, str(cpath))
    net = Dinov2(**cfg)
    state = read_state_dict(wpath, what="DINOv2 weights", fix=f"expected {expected}")
    if state and all(k.startswith("dinov2.") for k in state if not k.startswith("classifier.")):
        # saved from a model with a head (Dinov2ForImageClassification): its backbone, head dropped
        state = {k[len("dinov2.") :]: v for k, v in state.items() if k.startswith("dinov2.")}
    _load_exact(net, state, wpath, "DINOv2 weights matching config.json", f"expected {expected}")
    net.eval()
    mean, std, norm_src = IMAGENET_MEAN, IMAGENET_STD, "ImageNet mean/std (no preprocessor_config.json)"
    ppath = folder / "preprocessor_config.json"
    if ppath.is_file():
        try:
            pp = json.loads(ppath.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{ppath}: not a JSON file ({exc}); fix or remove it") from None
        mean, std = tuple(pp.get("image_mean", mean)), tuple(pp.get("image_std", std))
        norm_src = "preprocessor_config.json's image_mean/image_std"
    c, size = cfg["num_channels"], cfg["image_size"]
    m = torch.tensor(mean[:c] if len(mean) >= c else mean * c).view(1, -1, 1, 1)
    s = torch.tensor(std[:c] if len(std) >= c else std * c).view(1, -1, 1, 1)

    def fn(x: torch.Tensor) -> torch.Tensor:
        x = _resize_to(x.float(), size).expand(-1, c, -1, -1)
        return net((x - m) / s)

    record = {
        "weights_file": str(wpath),
        "config_sha256": sha256_file(cpath),
        "config": cfg,
        "preprocessing": f"grey replicated to {c} channels, bilinear resize to {size}x{size}, {norm_src}",
        "features": "final layer norm's class token (Dinov2Model.pooler_output)",
    }
    return FeatureExtractor("rad-dino", "FD_rad-dino", cfg["hidden_size"], sha256_file(wpath), record, fn)


XRV_ENV = "RADGEN_XRV_DENSENET121"


@FEATURES.register(
    "xrv-densenet121",
    "torchxrayvision's chest X-ray DenseNet-121 features2 (1024-d) from a user-given safetensors state dict "
    "(xrv_densenet121= or $RADGEN_XRV_DENSENET121); FD_xrv-densenet121",
)
def xrv_densenet121_extractor(*, xrv_densenet121: str | None = None, **_: Any) -> FeatureExtractor:
    """torchxrayvision's DenseNet-121 (Cohen et al. 2022) from a safetensors state dict with torchxrayvision's
    key names (for example ``save_file(xrv.models.DenseNet(weights="densenet121-res224-all").state_dict(), PATH)``;
    its ``classifier.*`` and ``op_threshs`` are ignored). Images: grey, bilinear resize to 224 x 224, scaled to
    [-1024, 1024] as torchxrayvision expects. Features: ``features2``, 1024-d. Built by ``radgen.nn.densenet_xrv``."""
    from radgen.nn.densenet_xrv import FEATURE_DIM, XRVDenseNet121
    from radgen.nn.weights import read_state_dict

    expected = "a torchxrayvision DenseNet-121 state dict saved as .safetensors"
    path = _user_file(xrv_densenet121, XRV_ENV, "xrv-densenet121", expected, "xrv_densenet121")
    if path.suffix != ".safetensors":
        raise ConfigError(f"{path}: not a .safetensors file; give {expected} (radgen loads no pickle here)")
    net = XRVDenseNet121()
    state = read_state_dict(path, what="DenseNet-121 weights", fix=f"expected {expected}")
    _load_exact(net, state, path, "torchxrayvision's DenseNet-121", f"expected {expected}",
                ignore=("classifier.", "op_threshs", "upsample"))  # fmt: skip
    net.eval()

    def fn(x: torch.Tensor) -> torch.Tensor:
        return net(_resize_to(x.float(), 224) * 2048 - 1024)

    record = {
        "weights_file": str(path),
        "preprocessing": "grey, bilinear resize to 224x224, scaled from [0, 1] to [-1024, 1024]",
        "features": "features2: ReLU of the last batch norm, spatial mean",
    }
    return FeatureExtractor("xrv-densenet121", "FD_xrv-densenet121", FEATURE_DIM, sha256_file(path), record, fn)


@FEATURES.register(
    "radiomics",
    "weight-free: first-order intensity and GLCM texture features (Haralick 1973) computed by radgen, 24-d "
    "(FD_radiomics)",
)
def radiomics_extractor(**_: Any) -> FeatureExtractor:
    """radgen's named radiomics set (``radgen.metrics.radiomics.RADIOMICS_FEATURES``): no weights, no training;
    ``weights_sha256`` is the sha256 of the feature names and settings, so a changed set is a changed view."""
    from radgen.metrics import radiomics as rad

    spec = {
        "features": list(rad.RADIOMICS_FEATURES),
        "glcm_levels": rad.LEVELS,
        "glcm_distances": list(rad.GLCM_DISTANCES),
        "histogram_bins": rad.HIST_BINS,
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def fn(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(rad.radiomics_features(x))

    record = {**spec, "preprocessing": "grey (channel mean), clipped to [0, 1], native resolution", "weights": None}
    return FeatureExtractor("radiomics", "FD_radiomics", len(rad.RADIOMICS_FEATURES), digest, record, fn)


def get_extractor(name: str, **kwargs: Any) -> FeatureExtractor:
    """The registered feature extractor ``name``, built with ``kwargs``."""
    return FEATURES.get(name)(**kwargs)
