"""Run configuration: ``model`` (chosen by ``model.name``), ``data``, ``train``, ``seed``.

YAML is the serialisation; ``--set a.b=value`` overrides; unknown keys and wrong types
are one-line errors that list the valid keys. Shipped examples live in
``radgen/configs/*.yaml`` so the CLI works after ``pip install``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from radgen.config import apply_overrides, from_dict, load_yaml, to_dict
from radgen.data.load import DataConfig
from radgen.errors import ConfigError
from radgen.models.base import ModelConfig, model_config_from_dict
from radgen.training.privacy import PrivacyConfig, check_privacy_config


@dataclass
class TrainConfig:
    """The engine's settings (YAML section ``train``): epochs, batch, optimiser, precision, devices."""

    epochs: int = 10
    max_minutes: float | None = None  # wall-clock cap on fitting (Lightning's max_time), for equal-budget comparisons
    batch_size: int = 64
    lr: float = 1e-3
    lr_groups: dict[str, float] = field(default_factory=dict)  # per optimizer group, e.g. {discriminator: 2e-4}
    optimizer: Literal["adam", "adamw"] = "adam"
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    fused_optimizer: bool | None = (
        # null: torch's fused Adam/AdamW kernel where every parameter allows it (CPU, CUDA); false: the per-tensor
        # loop
        None
    )
    gradient_clip: float | None = None  # max global grad norm per optimizer step; null = off
    early_stopping_patience: int | None = None  # epochs without improvement of the monitored loss
    monitor: Literal["auto", "val", "train"] = "auto"  # auto: val/loss when a val split exists
    checkpoint_every: int = 10  # periodic checkpoints every N epochs (0 = off); best and last always
    sample_every: int = 5  # sample grid every N epochs (0 = off)
    sample_count: int = 64
    accelerator: Literal["cpu", "gpu", "cuda", "mps", "auto"] = "cpu"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"  # "ddp" for several GPUs or nodes
    precision: Literal["32-true", "bf16-mixed", "16-mixed", "bf16-true"] = "32-true"
    num_workers: int = 0
    channels_last: bool = False  # NHWC memory format for conv nets (faster with GPU tensor cores)
    compile: bool = False  # torch.compile the model's forward (first steps slower while it compiles)
    compile_mode: str | None = None  # torch.compile mode: null (default), "reduce-overhead", "max-autotune"
    compile_backend: str = "inductor"  # "inductor" (needs a C++ compiler on CPU); "aot_eager" to check tracing only
    deterministic: bool = True
    limit_train_batches: Any = None  # int (batches) or float (fraction); for smoke runs
    limit_val_batches: Any = None
    progress_bar: bool = True
    # Lightning experiment loggers fed the epoch rows and sample grids: none | csv | tensorboard | mlflow, or a list
    logger: Any = "none"
    # differentially private training (DP-SGD via Opacus, radgen.training.privacy): {epsilon, delta, max_grad_norm}
    privacy: PrivacyConfig | None = None


@dataclass
class RunConfig:
    """A whole run (YAML): model, data, train, seed, output folder and name."""

    model: dict[str, Any] = field(default_factory=lambda: {"name": "vae"})
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int | None = None  # null: a seed is drawn and printed
    name: str | None = None  # run-directory prefix; default the model name
    output_dir: str = "runs"

    def model_config(self) -> ModelConfig:
        return model_config_from_dict(self.model)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def shipped_configs() -> dict[str, Path]:
    """The YAML configs shipped inside the package, by name."""
    root = resources.files("radgen") / "configs"
    return {p.name.removesuffix(".yaml"): Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml")}


def resolve_config_path(path_or_name: str | Path) -> Path:
    """A config file path, or the path of the shipped config of that name."""
    p = Path(path_or_name)
    if p.is_file():
        return p
    shipped = shipped_configs()
    key = str(path_or_name).removesuffix(".yaml")
    if key in shipped:
        return shipped[key]
    raise ConfigError(f"{path_or_name}: no such config file or shipped config; shipped: {', '.join(sorted(shipped))}")


STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "fsdp", "deepspeed", "single_device", "dp")


def _positive(where: str, value: float | None, *, allow_none: bool = False, strict: bool = True) -> None:
    if value is None and allow_none:
        return
    ok = value is not None and math.isfinite(value) and (value > 0 if strict else value >= 0)
    if not ok:
        raise ConfigError(f"{where}={value!r} must be {'> 0' if strict else '>= 0'} (and finite)")


def _check_devices(devices: Any) -> None:
    """Lightning's forms: a count >= 1, -1 (all), "auto", a list of device indices, or "0,1" / "2"."""
    if isinstance(devices, bool):
        pass
    elif isinstance(devices, int) and (devices >= 1 or devices == -1):
        return
    elif isinstance(devices, list) and devices and all(isinstance(d, int) and d >= 0 for d in devices):
        return
    elif isinstance(devices, str) and (
        devices == "auto" or re.fullmatch(r"-1|\d+|\d+(,\d+)*,?", devices.replace(" ", ""))
    ):
        return
    raise ConfigError(
        f"train.devices={devices!r} is not valid; valid: a count >= 1, -1 (all), auto, or device indices "
        "such as [0, 1] or '0,1'"
    )


def _check_train(t: TrainConfig) -> None:
    for key in ("epochs", "batch_size", "sample_count", "num_nodes"):
        value = getattr(t, key)
        if value < 1:
            raise ConfigError(f"train.{key}={value} must be at least 1")
    for key in ("checkpoint_every", "sample_every", "num_workers"):
        value = getattr(t, key)
        if value < 0:
            raise ConfigError(f"train.{key}={value} must be >= 0 (0 turns it off)")
    _positive("train.lr", t.lr)
    for group, lr in t.lr_groups.items():
        if isinstance(lr, bool) or not isinstance(lr, (int, float)):
            raise ConfigError(f"train.lr_groups.{group}={lr!r} must be a number")
        _positive(f"train.lr_groups.{group}", float(lr))
    _positive("train.weight_decay", t.weight_decay, strict=False)
    _positive("train.gradient_clip", t.gradient_clip, allow_none=True)
    if len(t.betas) != 2 or not all(0 <= b < 1 for b in t.betas):
        raise ConfigError(f"train.betas={t.betas} must be two numbers in [0, 1), e.g. [0.9, 0.999]")
    if t.early_stopping_patience is not None and t.early_stopping_patience < 1:
        raise ConfigError(f"train.early_stopping_patience={t.early_stopping_patience} must be >= 1, or null (off)")
    for key, zero_ok in (("limit_train_batches", False), ("limit_val_batches", True)):
        v = getattr(t, key)
        ok = (
            v is None
            or (isinstance(v, int) and not isinstance(v, bool) and (v >= 1 or zero_ok and v == 0))
            or (isinstance(v, float) and (0 < v <= 1 or zero_ok and v == 0))
        )
        if not ok:
            low = ">= 0" if zero_ok else ">= 1"
            raise ConfigError(f"train.{key}={v!r} must be null, a batch count {low} or a fraction in (0, 1]")
    if t.strategy not in STRATEGIES:
        from lightning.pytorch.strategies import StrategyRegistry

        known = StrategyRegistry.available_strategies()
        if t.strategy not in known:
            raise ConfigError(f"train.strategy={t.strategy!r} is not a strategy; valid: {', '.join(STRATEGIES)}")
    _check_devices(t.devices)
    if t.privacy is not None:
        check_privacy_config(t.privacy, t)
    if t.accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"train.accelerator={t.accelerator} but this machine has no CUDA device; use train.accelerator=cpu"
            )
    if t.accelerator == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise ConfigError("train.accelerator=mps but MPS is not available here; use train.accelerator=cpu")


def check_run_config(cfg: RunConfig) -> RunConfig:
    """Settings that cannot work, refused when the config is read, before any folder is made: budgets
    (epochs, batch size, learning rates), the accelerator, strategy and devices, the run name, and the
    image size when the config fixes it (``model.image_size`` or ``data.size``; else it is checked when
    the model is built, still before the run folder exists)."""
    from radgen.models.base import MODELS
    from radgen.outputs import check_name
    from radgen.training.loggers import logger_names

    if cfg.name is not None:
        check_name(cfg.name, "run name (--name / name:)")
    _check_train(cfg.train)
    logger_names(cfg.train.logger)  # known names, and the optional package of each installed
    if cfg.data.size is not None:
        from radgen.data.transforms import MAX_SIZE

        if not 1 <= cfg.data.size <= MAX_SIZE:
            raise ConfigError(f"data.size={cfg.data.size} must be from 1 to {MAX_SIZE} px")
    if cfg.seed is not None and not 0 <= cfg.seed <= MAX_SEED:
        raise ConfigError(f"seed={cfg.seed} must be from 0 to {MAX_SEED} (the range numpy and torch accept)")
    mc = cfg.model_config()
    size = mc.image_size or cfg.data.size
    if size is not None:
        MODELS.get(mc.name).cls.check_image_size(mc, int(size))
    return cfg


MAX_SEED = 2**32 - 1  # numpy.random.seed's upper bound

# train.* fields a resume applies (and records in its run-resume-*.json); any other change is refused
RESUMABLE = (
    "logger",
    "epochs",
    "lr",
    "lr_groups",
    "betas",
    "weight_decay",
    "gradient_clip",
    "early_stopping_patience",
    "checkpoint_every",
    "sample_every",
    "sample_count",
    "limit_train_batches",
    "limit_val_batches",
    "progress_bar",
    "num_workers",
    "accelerator",
    "devices",
    "num_nodes",
    "strategy",
    "precision",
    "fused_optimizer",
    "channels_last",
    "compile",
    "compile_mode",
    "compile_backend",
)


def resume_changes(old: RunConfig, new: RunConfig) -> dict[str, list[Any]]:
    """The ``train.*`` settings ``new`` changes in the run ``old`` (``{key: [old, new]}``), which a resume
    applies; a change to anything else (model, data, seed, batch size, optimizer kind...) is a ConfigError."""
    a, b = to_dict(old), to_dict(new)
    for key in ("model", "data", "seed"):
        if a.get(key) != b.get(key):
            raise ConfigError(
                f"--resume cannot change {key} (a run continues with its own model, data and seed); start a new "
                "run for that: radgen train CONFIG --set ..."
            )
    changes = {}
    for key, value in b["train"].items():
        if a["train"].get(key) != value:
            if key not in RESUMABLE:
                raise ConfigError(
                    f"--resume cannot change train.{key} ({a['train'].get(key)!r} -> {value!r}); a resume can "
                    f"change {', '.join(RESUMABLE)}; start a new run for the rest"
                )
            changes[f"train.{key}"] = [a["train"].get(key), value]
    return changes


def load_run_config(path_or_name: str | Path | dict[str, Any], overrides: list[str] | None = None) -> RunConfig:
    """A RunConfig from a YAML path, a shipped config's name or a dict, with dotted overrides applied."""
    data = dict(path_or_name) if isinstance(path_or_name, dict) else load_yaml(resolve_config_path(path_or_name))
    data = apply_overrides(data, overrides or [])
    cfg = from_dict(RunConfig, data)
    cfg.model_config()  # validate the model section now, with its family's schema
    return check_run_config(cfg)
