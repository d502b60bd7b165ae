"""``train(config)``: data -> model -> engine -> a self-describing run directory.

runs/<name>-<YYYYmmdd-HHMMSS>-<4 hex>/   (created exclusively: a run never overwrites another)
  config.yaml        resolved config (seed, data-derived model fields filled in)
  run.json           radgen/torch versions, git SHA, seed, device, loss bookkeeping, data counts
  metrics.jsonl      one line per epoch: train/* and val/* means, kl_per_dim, active_units
  checkpoints/       best.ckpt (lowest monitored loss), last.ckpt, epoch_NNNN.ckpt (periodic)
  samples/           epoch_NNNN.png every train.sample_every epochs, final.png (+ final_by_class.png)
  reconstructions.png  (VAE family) originals above their reconstructions from mu
  curves.png         per-epoch train (solid) and val (dashed) curves of every loss term
  export/            config.yaml + weights.safetensors of the best checkpoint (safe to share)
  metrics.json       summary: best epoch and loss, epochs run, time per epoch, parameters
"""

from __future__ import annotations

import logging
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO

from radgen import __version__
from radgen.config import to_dict
from radgen.data import load_dataset
from radgen.data.base import DataSplits
from radgen.errors import ConfigError, DataError, MissingDataError, OutputError, RadgenError
from radgen.io import atomic_path, write_json, write_text
from radgen.models.base import GenerativeModel, build_model
from radgen.models.export import save_exported
from radgen.training.callbacks import LastCheckpoint, SampleGrids, sample_grid
from radgen.training.config import RunConfig, TrainConfig, check_run_config, load_run_config, resume_changes
from radgen.training.data import make_loader
from radgen.training.module import EngineModule, NonFiniteLossError
from radgen.viz import plot_curves, save_class_grid, save_grid

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    model: GenerativeModel
    summary: dict[str, Any]
    data: DataSplits


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints are written to a temporary file and renamed: never half-written."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        return load_checkpoint_file(Path(path), map_location=map_location or "cpu")


def load_checkpoint_file(path: Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)``; a damaged, truncated or foreign file is a DataError naming
    it and the periodic checkpoints a resume can start from instead."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise MissingDataError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # torch raises RuntimeError (zip), UnpicklingError, EOFError, ... on damaged files
        others = sorted(p.name for p in path.parent.glob("*.ckpt") if p != path)
        instead = (
            f"copy one of {', '.join(others)} (in {path.parent}) over {path.name} and resume again"
            if others
            else "no other checkpoint is left in that folder: start a new run"
        )
        raise DataError(
            f"{path}: damaged or truncated checkpoint ({type(exc).__name__}: {' '.join(str(exc).split())[:80]}); "
            f"{instead}"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise DataError(f"{path}: not a radgen/Lightning checkpoint (no state_dict); resume from another one")
    return ckpt


def git_sha() -> str | None:
    try:
        r = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5
        )
        return r.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def new_run_dir(output_dir: str | Path, prefix: str) -> Path:
    """A fresh ``output_dir/<prefix>-<time>-<4 hex>`` folder; ``prefix`` is one file-name component,
    so the run never lands outside ``output_dir``."""
    from radgen.outputs import check_name, check_new_folder

    check_name(prefix, "run name (--name / name:)")
    root = check_new_folder(output_dir, option="--output-dir")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError.from_os(exc, root) from exc
    for _ in range(20):
        d = root / f"{prefix}-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        try:
            d.mkdir()  # exclusive: two runs started at once never share a directory
            return d
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError.from_os(exc, d) from exc
    raise RuntimeError(f"could not create a fresh run directory under {root}")


def load_state_from_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    ckpt = load_checkpoint_file(Path(path))
    return {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}


def _quiet_lightning() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")  # lightning 2.6 vs torch 2.13 internal deprecation
    warnings.filterwarnings("ignore", message=r".*no .val_dataloader.*")  # validation is optional by design
    warnings.filterwarnings(
        "ignore", message=r".*Checkpoint directory .* exists and is not empty.*"
    )  # resume writes into its own run
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


RUN_DIR_ENV = "RADGEN_RUN_DIR"  # the run directory every process of a distributed run writes to
SEED_ENV = "RADGEN_SEED"


def _ddp_worker() -> bool:
    """True in a process other than global rank 0 of a distributed launch (Lightning's DDP launcher,
    torchrun, SLURM).
    """
    if "RANK" in os.environ:
        return os.environ["RANK"] != "0"
    return os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0"


def engine_callbacks(
    t: TrainConfig, run_dir: Path, *, seed: int, by_loss: bool, monitor: str, progress_refresh: int = 0
) -> list[L.Callback]:
    """The callbacks of every ``radgen train`` run (also what ``radgen.training.profile`` times):
    best (lowest monitored loss; none for adversarial models) and every-epoch last checkpoints,
    sample grids, optional per-N-epoch checkpoints, early stopping and a progress bar refreshed
    every ``progress_refresh`` steps (0: none). The first is the checkpoint the export is taken from."""
    ckpt_dir = run_dir / "checkpoints"
    callbacks: list[L.Callback] = [
        LastCheckpoint(ckpt_dir),
        SampleGrids(run_dir / "samples", every=t.sample_every, count=t.sample_count, seed=seed),
    ]
    if by_loss:
        callbacks.insert(
            0,
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename="best",
                monitor=monitor,
                mode="min",
                save_top_k=1,
                enable_version_counter=False,
                auto_insert_metric_name=False,
            ),
        )
    if t.checkpoint_every:
        callbacks.append(
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename="epoch_{epoch:04d}",
                every_n_epochs=t.checkpoint_every,
                save_top_k=-1,
                monitor=None,
                auto_insert_metric_name=False,
                enable_version_counter=False,
            )
        )
    if t.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor=monitor, patience=t.early_stopping_patience, mode="min"))
    if progress_refresh:
        callbacks.append(TQDMProgressBar(refresh_rate=progress_refresh))
    return callbacks


def prepare_for_speed(model: GenerativeModel, t) -> GenerativeModel:
    """``train.channels_last``: NHWC weights (and batches, in the engine) for tensor-core convolutions;
    ``train.compile``: the model's forward through ``torch.compile`` (the module and its state dict stay as
    they are)."""
    if t.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if t.compile:
        model.forward = torch.compile(model.forward, mode=t.compile_mode, backend=t.compile_backend)
    return model


def train(
    cfg: RunConfig, *, resume: str | Path | None = None, progress: bool | None = None, run_dir: Path | None = None
) -> RunResult:
    """Train ``cfg`` in a new run directory, or continue ``resume`` (a run directory) from its last checkpoint.

    A new run that fails before its first checkpoint (an error, a NaN or divergence, Ctrl-C) leaves no
    half-made folder: it is removed, and the error says so; a NaN/divergence stop after a checkpoint
    names the checkpoint a resume continues from."""
    made: list[Path] = []
    try:
        return _train(cfg, resume=resume, progress=progress, run_dir=run_dir, made=made)
    except BaseException as exc:
        folder = made[0] if made else None
        kept = sorted((folder / "checkpoints").glob("*.ckpt")) if folder is not None else []
        note = None
        if folder is not None and not kept and folder.is_dir() and not _ddp_worker():
            shutil.rmtree(folder, ignore_errors=True)
            note = f"no checkpoint had been written, so the unfinished run folder {folder} was removed"
        elif isinstance(exc, NonFiniteLossError):
            last = Path(resume or folder or ".") / "checkpoints" / "last.ckpt"
            note = (
                f"the last good checkpoint is kept: {last} (radgen train --resume {last.parent.parent} --set ...)"
                if last.is_file()
                else "no checkpoint had been written yet"
            )
        if note and isinstance(exc, RadgenError):
            exc.args = (f"{exc}; {note}",)
        elif note:
            print(f"radgen: {note}", file=sys.stderr)
        raise


def _train(
    cfg: RunConfig, *, resume: str | Path | None, progress: bool | None, run_dir: Path | None, made: list[Path]
) -> RunResult:
    check_run_config(cfg)
    _quiet_lightning()
    ckpt_path, changes = None, {}
    if resume is not None:
        run_dir = Path(resume)
        ckpt = run_dir / "checkpoints" / "last.ckpt"
        if not ckpt.is_file():
            raise MissingDataError(f"{ckpt}: no checkpoint to resume from; is {run_dir} a radgen run directory?")
        ckpt_path = str(ckpt)
        changes = resume_changes(resume_config(run_dir), cfg)  # applied (EngineModule.on_train_start) and recorded
        trim_metrics(run_dir, int(load_checkpoint_file(ckpt).get("global_step", 0)))
    worker = _ddp_worker()
    seed = cfg.seed if cfg.seed is not None else int(os.environ.get(SEED_ENV) or secrets.randbelow(2**31))
    if cfg.seed is None and not worker:
        print(f"radgen: seed {seed} (none given; pass seed: {seed} to repeat this run)", file=sys.stderr)
    cfg = replace(cfg, seed=seed)
    show = cfg.train.progress_bar if progress is None else progress and cfg.train.progress_bar

    if cfg.train.max_minutes is not None and cfg.train.max_minutes <= 0:
        raise ConfigError(f"train.max_minutes={cfg.train.max_minutes} must be > 0 (null: no wall-clock cap)")
    L.seed_everything(seed, workers=True, verbose=False)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    data = load_dataset(cfg.data, progress=show)
    train_set = data["train"]
    val_set = data.splits.get("val")
    model_cfg = cfg.model_config()
    if train_set.task != "multiclass" and getattr(model_cfg, "conditional", "none") != "none":
        raise ConfigError(
            f"dataset {cfg.data.name!r} is multi-label; class-conditional models need single-label "
            "data (e.g. cxr14 with -o label_mode=single)"
        )
    model = build_model(
        model_cfg, image_size=train_set.image_size[0], channels=train_set.channels, num_classes=train_set.num_classes
    )
    cfg = replace(cfg, model=to_dict(model.config))

    if run_dir is None and os.environ.get(
        RUN_DIR_ENV
    ):  # a DDP worker, or a multi-node launch given one shared directory
        run_dir = Path(os.environ[RUN_DIR_ENV])
    if run_dir is None:
        run_dir = new_run_dir(cfg.output_dir, cfg.name or model.config.name)
        made.append(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "samples").mkdir(exist_ok=True)
    if resume is None and not worker:
        if (run_dir / "config.yaml").exists():
            raise ConfigError(
                f"{run_dir} already holds a run; unset {RUN_DIR_ENV} or name a new directory (a "
                "run never overwrites another)"
            )
        write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    n_params = sum(p.numel() for p in model.parameters())
    info = {
        "radgen_version": __version__,
        "git_sha": git_sha(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "started": datetime.now().isoformat(timespec="seconds"),
        "seed": seed,
        "model": model.config.name,
        "parameters": n_params,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "pretrained": model.pretrained or None,  # e.g. {encoder_weights: path, sha256} or "random init"
        "losses": model.describe_losses(),
        "data": {
            "name": data.name,
            "path": data.path,
            "splits": {k: len(v) for k, v in data.items()},
            "class_names": list(train_set.class_names),
            "image_size": list(train_set.image_size),
            "channels": train_set.channels,
            "storage": data.info.get("storage"),  # pixels in memory or memory-mapped from the cache
            "bad_files": {"count": len(data.bad_files), "first": [f"{p}: {why}" for p, why in data.bad_files[:5]]},
        },
        "resumed_from": ckpt_path,
    }
    if resume is not None:
        info["overrides_applied"] = changes  # {key: [before, after]}
        if changes and not worker:
            write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    if not worker:
        write_json(
            run_dir / ("run.json" if resume is None else f"run-resume-{datetime.now():%Y%m%d-%H%M%S}.json"), info
        )
        losses = model.describe_losses()
        print(
            f"radgen: run {run_dir}  ({model.config.name}, {n_params:,} parameters; losses: {losses})", file=sys.stderr
        )

    t = cfg.train
    model = prepare_for_speed(model, t)
    pin = t.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available()
    prepared_at = time.perf_counter()
    prepared = model.prepare_training_data(train_set)  # e.g. latents encoded once; None: the images
    prepare_seconds = round(time.perf_counter() - prepared_at, 2)
    train_loader = make_loader(
        train_set if prepared is None else prepared,
        batch_size=t.batch_size,
        shuffle=True,
        seed=seed,
        num_workers=t.num_workers,
        pin_memory=pin,
    )
    by_loss = getattr(model, "checkpoint_selection", "loss") == "loss"
    # Validation losses rank checkpoints; adversarial losses do not (and a critic's gradient
    # penalty needs autograd, which Lightning's evaluation loop turns off), so they skip it.
    # limit_val_batches=0 turns validation off: the train loss ranks checkpoints then (else nothing would be saved)
    validate = (
        by_loss
        and val_set is not None
        and len(val_set) > 0
        and t.monitor != "train"
        and t.limit_val_batches not in (0, 0.0)
    )
    val_loader = (
        make_loader(
            val_set, batch_size=t.batch_size, shuffle=False, seed=seed, num_workers=t.num_workers, pin_memory=pin
        )
        if validate
        else None
    )
    monitor = "val/loss" if val_loader is not None else "train/loss"
    if t.monitor == "val" and val_loader is None and by_loss:
        raise ConfigError("train.monitor=val but the data has no val split; set data.val_from_train (e.g. 0.1)")

    if not by_loss:  # adversarial losses do not rank checkpoints: the export is the last one
        monitor = "last epoch"
        if t.early_stopping_patience:
            raise ConfigError(
                "train.early_stopping_patience needs a loss that ranks checkpoints; "
                f"{model.config.name!r} is adversarial, remove it"
            )
    callbacks = engine_callbacks(
        t,
        run_dir,
        seed=seed,
        by_loss=by_loss,
        monitor=monitor,
        progress_refresh=max(1, len(train_loader) // 50) if show else 0,
    )
    best_cb, ckpt_dir = callbacks[0], run_dir / "checkpoints"
    trainer = L.Trainer(
        max_epochs=t.epochs,
        max_time={"seconds": 60.0 * t.max_minutes} if t.max_minutes else None,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=t.precision,
        deterministic=False,  # set above with warn_only, so ops without a deterministic kernel still run
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=bool(show),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches,
        default_root_dir=str(run_dir),
        plugins=[AtomicCheckpointIO()],
    )
    module = EngineModule(model, t, metrics_path=run_dir / "metrics.jsonl", val_seed=seed)
    started = time.perf_counter()
    many = trainer.world_size > 1 and not worker
    if many:  # the processes Lightning launches inherit these: one run directory, one seed
        os.environ[RUN_DIR_ENV], os.environ[SEED_ENV] = str(run_dir), str(seed)
    try:
        trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path, weights_only=True)
    finally:
        if many:
            os.environ.pop(RUN_DIR_ENV, None)
            os.environ.pop(SEED_ENV, None)
    elapsed = time.perf_counter() - started
    if "forward" in vars(model):
        del model.forward  # back to the eager method: exported and sampled models are plain modules
    if not trainer.is_global_zero:
        return RunResult(run_dir, model, {}, data)

    best_path = Path(best_cb.best_model_path) if by_loss and best_cb.best_model_path else ckpt_dir / "last.ckpt"
    model.load_state_dict(load_state_from_checkpoint(best_path))
    model.eval().cpu()
    measured = model.after_fit(train_set)  # e.g. the autoencoder's latent scale, stored in its buffers
    save_exported(
        model,
        run_dir / "export",
        extra={
            "data": info["data"],
            "seed": seed,
            "checkpoint": best_path.name,
            "pretrained": info["pretrained"],
            **({"fit": measured} if measured else {}),
        },
    )
    with torch.inference_mode():
        imgs, per_row = sample_grid(model, t.sample_count, seed=seed, num_classes=int(model.config.num_classes))
        save_grid(imgs, run_dir / "samples" / "final.png", nrow=per_row or None)
        if model.supports_labels:  # the same samples, one labelled row per class
            per = len(imgs) // len(train_set.class_names)
            rows_by_class = {name: imgs[i * per : (i + 1) * per][:16] for i, name in enumerate(train_set.class_names)}
            save_class_grid(
                rows_by_class,
                run_dir / "samples" / "final_by_class.png",
                title=f"{model.config.name}: samples per class",
            )
        if hasattr(model, "reconstruct"):
            ref = val_set if val_set is not None and len(val_set) else train_set
            x, y = ref.images[:8], ref.labels[:8]
            save_grid(torch.cat([x, model.reconstruct(x, y)]), run_dir / "reconstructions.png", nrow=len(x))
    rows = read_metrics(run_dir)
    plot_curves(rows, run_dir / "curves.png", title=f"{model.config.name} on {data.name}")
    key = monitor.replace("/loss", "/loss/total")
    best_row = (
        min((r for r in rows if key in r), key=lambda r: r[key], default=None)
        if by_loss
        else (rows[-1] if rows else None)
    )
    summary = {
        "model": model.config.name,
        "parameters": n_params,
        "epochs_run": len(rows),
        "batches_run": sum(int(r.get("train_batches", 0)) for r in rows),  # the budget actually trained
        "images_seen": sum(int(r.get("train_images", 0)) for r in rows),
        "monitor": monitor,
        "best_epoch": best_row["epoch"] if best_row else None,
        "best_loss": best_row.get(key) if best_row else None,
        "warnings": [w for r in rows for w in r.get("warnings", [])],
        "best_checkpoint": best_path.name,
        "train_seconds": round(elapsed, 2),
        "seconds_per_epoch": round(sum(r["seconds"] for r in rows) / max(1, len(rows)), 3),
        "stopped_early": bool(trainer.should_stop and len(rows) < t.epochs),
        "final": rows[-1] if rows else {},
        "prepare_seconds": prepare_seconds,
        **({"fit": measured} if measured else {}),
    }
    write_json(run_dir / "metrics.json", summary)
    return RunResult(run_dir, model, summary, data)


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The per-epoch rows of ``metrics.jsonl`` (a torn last line, from a kill, is ignored)."""
    import json

    p = Path(run_dir) / "metrics.jsonl"
    rows = []
    if p.is_file():
        for line in p.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def trim_metrics(run_dir: Path, global_step: int) -> int:
    """Drop ``metrics.jsonl`` rows past the checkpoint a resume starts from (an epoch that
    finished after the last checkpoint, before a kill, is trained again) and a torn last
    line; returns how many lines were dropped."""
    import json

    p = run_dir / "metrics.jsonl"
    if not p.is_file():
        return 0
    lines = p.read_text().splitlines()
    keep = []
    for line in lines:
        try:
            if int(json.loads(line).get("step", 0)) <= global_step:
                keep.append(line)
        except json.JSONDecodeError:
            continue
    if len(keep) != len(lines):
        write_text(p, "".join(line + "\n" for line in keep))
    return len(lines) - len(keep)


def resume_config(run_dir: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """The run's config with ``overrides``, checked: a resume applies train settings such as
    ``train.lr`` or ``train.epochs`` (``training.config.RESUMABLE``) and refuses any other change."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise MissingDataError(f"{path}: no config.yaml; is {run_dir} a radgen run directory?")
    cfg = load_run_config(path, overrides)
    resume_changes(load_run_config(path), cfg)
    return cfg
