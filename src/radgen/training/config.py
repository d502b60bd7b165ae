"""Run configuration: ``model`` (chosen by ``model.name``), ``data``, ``train``, ``seed``.

YAML is the serialisation; ``--set a.b=value`` overrides; unknown keys and wrong types
are one-line errors that list the valid keys. Shipped examples live in
``radgen/configs/*.yaml`` so the CLI works after ``pip install``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from radgen.config import apply_overrides, from_dict, load_yaml, to_dict
from radgen.data.load import DataConfig
from radgen.errors import ConfigError
from radgen.models.base import ModelConfig, model_config_from_dict


@dataclass
class TrainConfig:
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


@dataclass
class RunConfig:
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
    root = resources.files("radgen") / "configs"
    return {p.name.removesuffix(".yaml"): Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml")}


def resolve_config_path(path_or_name: str | Path) -> Path:
    p = Path(path_or_name)
    if p.is_file():
        return p
    shipped = shipped_configs()
    key = str(path_or_name).removesuffix(".yaml")
    if key in shipped:
        return shipped[key]
    raise ConfigError(f"{path_or_name}: no such config file or shipped config; shipped: {', '.join(sorted(shipped))}")


def check_run_config(cfg: RunConfig) -> RunConfig:
    """Settings that cannot work, refused when the config is read, before any folder is made."""
    from radgen.outputs import check_name

    if cfg.name is not None:
        check_name(cfg.name, "run name (--name / name:)")
    return cfg


def load_run_config(path_or_name: str | Path | dict[str, Any], overrides: list[str] | None = None) -> RunConfig:
    data = dict(path_or_name) if isinstance(path_or_name, dict) else load_yaml(resolve_config_path(path_or_name))
    data = apply_overrides(data, overrides or [])
    cfg = from_dict(RunConfig, data)
    cfg.model_config()  # validate the model section now, with its family's schema
    return check_run_config(cfg)
