"""``train(config)``: data -> model -> engine -> a self-describing run directory.

``train`` reads as four named steps, as pythae's ``BaseTrainer`` does:

1. ``prepare``: the resume checkpoint, the seed, the data and the model (nothing written yet);
2. ``open_run_folder``: the run directory, its ``config.yaml`` and ``run.json`` (layout: ``radgen.runfolder``);
3. ``build_trainer`` and ``fit``: loaders, callbacks and Lightning's trainer, then the epochs;
4. ``finalise``: the best checkpoint's export, final samples, reconstructions, curves and ``metrics.json``.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO

from radgen import runfolder, signals
from radgen.config import to_dict
from radgen.data import load_dataset
from radgen.data.base import DataSplits
from radgen.data.manifest import check_unchanged, write_manifest
from radgen.errors import ConfigError, DataError, MissingDataError, RadgenError, Terminated
from radgen.io import atomic_path, write_json, write_text
from radgen.models.base import GenerativeModel, build_model
from radgen.models.export import save_exported
from radgen.outputs import new_run_dir
from radgen.progress import show_bars
from radgen.provenance import provenance
from radgen.runfolder import RunFolder, read_metrics, trim_metrics
from radgen.training.callbacks import LastCheckpoint, SampleGrids, StopCheckpoint, sample_grid
from radgen.training.config import RunConfig, TrainConfig, check_run_config, load_run_config, resume_changes
from radgen.training.data import make_loader
from radgen.training.loggers import build_loggers, log_config
from radgen.training.module import EngineModule, NonFiniteLossError
from radgen.viz import plot_curves, save_class_grid, save_grid

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What ``train`` returns: the run folder, the trained model (best weights, eval mode), ``metrics.json``'s
    summary and the data it trained on."""

    run_dir: Path
    model: GenerativeModel
    summary: dict[str, Any]
    data: DataSplits

    def __repr__(self) -> str:
        """A few lines: the folder, the model, the budget and best loss, the data (never the tensors)."""
        s = self.summary
        best = (
            f"; best {s.get('monitor')} {s['best_loss']:.4g} at epoch {s.get('best_epoch')}"
            if isinstance(s.get("best_loss"), (int, float))
            else ""
        )
        params = sum(p.numel() for p in self.model.parameters())
        splits = ", ".join(f"{k} {len(v)}" for k, v in self.data.items())
        return (
            f"RunResult(run_dir={str(self.run_dir)!r})\n"
            f"  model   {self.model.config.name} ({params:,} parameters)\n"
            f"  trained {s.get('epochs_run')} epochs, {s.get('images_seen')} images{best}\n"
            f"  data    {self.data.name} ({splits})"
        )


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


def load_state_from_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    ckpt = load_checkpoint_file(Path(path))
    return {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}


def quiet_lightning() -> None:
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
    folder = RunFolder(run_dir)
    ckpt_dir = folder.checkpoints
    callbacks: list[L.Callback] = [
        LastCheckpoint(ckpt_dir),
        StopCheckpoint(ckpt_dir),
        SampleGrids(folder.samples, every=t.sample_every, count=t.sample_count, seed=seed),
    ]
    if by_loss:
        callbacks.insert(
            0,
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename=runfolder.BEST,
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
                filename=runfolder.PERIODIC,
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


@dataclass
class TrainingRun:
    """What the steps of ``train`` hand each other: settings, data, model and where they go."""

    cfg: RunConfig
    seed: int
    show: bool  # progress bars
    worker: bool  # a DDP process other than rank 0: it writes nothing
    data: DataSplits
    model: GenerativeModel
    resume_from: str | None = None  # the checkpoint a resume continues from
    run_dir: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)  # run.json
    by_loss: bool = True  # a loss ranks checkpoints (not adversarial)
    monitor: str = "train/loss"
    prepare_seconds: float = 0.0  # model.prepare_training_data (e.g. latents encoded once)
    changes: dict[str, Any] = field(default_factory=dict)  # overrides a resume applies: {key: [before, after]}
    privacy: Any = None  # training.privacy.PrivateTraining when train.privacy is set

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.run_dir)


def train(
    cfg: RunConfig,
    *,
    resume: str | Path | None = None,
    progress: bool | None = None,
    run_dir: Path | None = None,
    allow_changed_data: bool = False,
) -> RunResult:
    """Train ``cfg`` in a new run directory, or continue ``resume`` (a run directory) from its last checkpoint.

    A new run that fails before its first checkpoint (an error, a NaN or divergence, Ctrl-C) leaves no
    half-made folder: it is removed, and the error says so; a NaN/divergence stop after a checkpoint
    names the checkpoint a resume continues from."""
    made: list[Path] = []
    try:
        return _train(
            cfg, resume=resume, progress=progress, run_dir=run_dir, made=made, allow_changed_data=allow_changed_data
        )
    except BaseException as exc:
        folder = made[0] if made else None
        kept = sorted(RunFolder(folder).checkpoints.glob("*.ckpt")) if folder is not None else []
        note = None
        if folder is not None and not kept and folder.is_dir() and not _ddp_worker():
            shutil.rmtree(folder, ignore_errors=True)
            note = f"no checkpoint had been written, so the unfinished run folder {folder} was removed"
        elif isinstance(exc, NonFiniteLossError):
            last = RunFolder(resume or folder or ".").last_checkpoint
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
    cfg: RunConfig,
    *,
    resume: str | Path | None,
    progress: bool | None,
    run_dir: Path | None,
    made: list[Path],
    allow_changed_data: bool = False,
) -> RunResult:
    check_run_config(cfg)
    quiet_lightning()
    run = prepare(cfg, resume=resume, progress=progress, allow_changed_data=allow_changed_data)
    open_run_folder(run, run_dir, made=made)
    trainer, module, loaders = build_trainer(run)
    elapsed = fit(run, trainer, module, loaders)
    if not trainer.is_global_zero:
        return RunResult(run.run_dir, run.model, {}, run.data)
    summary = finalise(run, trainer, elapsed)
    return RunResult(run.run_dir, run.model, summary, run.data)


def prepare(
    cfg: RunConfig, *, resume: str | Path | None, progress: bool | None, allow_changed_data: bool = False
) -> TrainingRun:
    """Step 1: the checkpoint to resume from (its metrics log trimmed to it, the overrides a resume applies
    checked), the seed (drawn and printed when none is given), the data (on a resume, compared with the run's
    split manifest: a change is refused unless ``allow_changed_data``, then recorded) and the model built to fit
    it. Nothing is written but the trim."""
    ckpt_path, changes = None, {}
    if resume is not None and cfg.train.privacy is not None:
        raise ConfigError(
            "--resume of a run with train.privacy: the accountant's state is not in the checkpoint; start a new run"
        )
    if resume is not None:
        ckpt = RunFolder(resume).last_checkpoint
        if not ckpt.is_file():
            raise MissingDataError(f"{ckpt}: no checkpoint to resume from; is {resume} a radgen run directory?")
        ckpt_path = str(ckpt)
        changes = resume_changes(resume_config(resume), cfg)  # applied (EngineModule.on_train_start) and recorded
    worker = _ddp_worker()
    seed = cfg.seed if cfg.seed is not None else int(os.environ.get(SEED_ENV) or secrets.randbelow(2**31))
    if cfg.seed is None and not worker:
        print(f"radgen: seed {seed} (none given; pass seed: {seed} to repeat this run)", file=sys.stderr)
    cfg = replace(cfg, seed=seed)
    # bars where radgen.progress draws them (a terminal; never a log or a notebook), and train.progress_bar allows
    show = show_bars(cfg.train.progress_bar if progress is None else progress and cfg.train.progress_bar)

    if cfg.train.max_minutes is not None and cfg.train.max_minutes <= 0:
        raise ConfigError(f"train.max_minutes={cfg.train.max_minutes} must be > 0 (null: no wall-clock cap)")
    L.seed_everything(seed, workers=True, verbose=False)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    data = load_dataset(cfg.data, progress=show)
    train_set = data["train"]
    if resume is not None:
        changed = check_unchanged(
            Path(resume) / runfolder.SPLIT_MANIFEST, train_set, allow=allow_changed_data, run=resume
        )
        if changed is not None:  # --allow-changed-data: recorded in the resume's record
            changes["data (allowed to change)"] = changed
        trim_metrics(resume, int(load_checkpoint_file(ckpt).get("global_step", 0)))  # after every refusal
    model_cfg = cfg.model_config()
    if train_set.task != "multiclass" and getattr(model_cfg, "conditional", "none") != "none":
        raise ConfigError(
            f"dataset {cfg.data.name!r} is multi-label; class-conditional models need single-label data "
            "(e.g. cxr14 with -o label_mode=single)"
        )
    model = build_model(
        model_cfg, image_size=train_set.image_size[0], channels=train_set.channels, num_classes=train_set.num_classes
    )
    model.class_names = tuple(train_set.class_names)
    cfg = replace(cfg, model=to_dict(model.config))
    privacy = None
    if cfg.train.privacy is not None:  # refused here, before any folder, when the model or settings cannot be private
        from radgen.training.privacy import PrivateTraining

        t = cfg.train
        privacy = PrivateTraining(
            t.privacy,
            model,
            n_train=len(train_set),
            batch_size=t.batch_size,
            epochs=t.epochs,
            limit_batches=t.limit_train_batches,
            seed=seed,
        )
    return TrainingRun(
        cfg=cfg,
        seed=seed,
        show=bool(show),
        worker=worker,
        data=data,
        model=model,
        resume_from=ckpt_path,
        run_dir=Path(resume) if resume is not None else None,
        changes=changes,
        privacy=privacy,
    )


def open_run_folder(run: TrainingRun, run_dir: Path | None = None, *, made: list[Path] | None = None) -> None:
    """Step 2: the run directory (fresh, or the resumed one, or the one a distributed launch shares),
    its resolved ``config.yaml`` (never over another run's) and ``run.json`` (a resume writes its own). A folder
    it makes is appended to ``made`` (``train`` removes it again when the run fails before its first checkpoint)."""
    cfg, model, data = run.cfg, run.model, run.data
    if run.run_dir is None:
        run.run_dir = run_dir
    if run.run_dir is None and os.environ.get(RUN_DIR_ENV):  # a DDP worker, or a multi-node launch given one
        run.run_dir = Path(os.environ[RUN_DIR_ENV])
    if run.run_dir is None:
        run.run_dir = new_run_dir(cfg.output_dir, cfg.name or model.config.name)
        if made is not None:
            made.append(run.run_dir)
    folder = run.folder
    folder.path.mkdir(parents=True, exist_ok=True)
    folder.samples.mkdir(exist_ok=True)
    resuming = run.resume_from is not None
    if not resuming and not run.worker:
        if folder.config.exists():
            raise ConfigError(
                f"{folder.path} already holds a run; unset {RUN_DIR_ENV} or name a new directory "
                "(a run never overwrites another)"
            )
        write_text(folder.config, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    train_set = data["train"]
    prov = provenance()
    run.info = {
        "radgen_version": prov["versions"]["radgen"],
        "git_sha": prov["git_sha"],
        "torch": prov["versions"]["torch"],
        "lightning": prov["versions"]["lightning"],
        "python": prov["versions"]["python"],
        "machine": prov["machine"],
        "versions": prov["versions"],
        "started": datetime.now().isoformat(timespec="seconds"),
        "seed": run.seed,
        "model": model.config.name,
        "parameters": sum(p.numel() for p in model.parameters()),
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
        "resumed_from": run.resume_from,
    }
    if run.privacy is not None:  # the plan; finalise adds the epsilon spent
        run.info["privacy"] = run.privacy.plan()
    if resuming:
        run.info["overrides_applied"] = run.changes  # {key: [before, after]}
        if run.changes and not run.worker:
            write_text(folder.config, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    if not resuming and not run.worker:  # the real items it trains on, for synthetic releases (radgen release)
        run.info["data"]["split_manifest_sha256"] = write_manifest(folder.path / runfolder.SPLIT_MANIFEST, train_set)
    if not run.worker:
        write_json(folder.resume_info() if resuming else folder.run_info, run.info)
        print(
            f"radgen: run {folder.path}  ({model.config.name}, {run.info['parameters']:,} parameters; "
            f"losses: {model.describe_losses()})",
            file=sys.stderr,
        )


def build_trainer(run: TrainingRun) -> tuple[L.Trainer, EngineModule, tuple]:
    """Step 3a: the model prepared for speed, the train (and, when a loss ranks checkpoints, the
    validation) loader, the callbacks, Lightning's trainer and the engine module."""
    t, model = run.cfg.train, run.model
    train_set, val_set = run.data["train"], run.data.splits.get("val")
    run.model = model = prepare_for_speed(model, t)
    pin = t.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available()
    prepared_at = time.perf_counter()
    prepared = model.prepare_training_data(train_set)  # e.g. latents encoded once; None: the images
    run.prepare_seconds = round(time.perf_counter() - prepared_at, 2)
    train_loader = make_loader(
        train_set if prepared is None else prepared,
        batch_size=t.batch_size,
        shuffle=True,
        seed=run.seed,
        num_workers=t.num_workers,
        pin_memory=pin,
    )
    if run.privacy is not None:  # DP-SGD: per-image gradient hooks and Poisson-sampled batches
        run.privacy.attach()
        train_loader = run.privacy.loader(train_loader)
    run.by_loss = by_loss = model.checkpoint_selection == "loss"
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
            val_set, batch_size=t.batch_size, shuffle=False, seed=run.seed, num_workers=t.num_workers, pin_memory=pin
        )
        if validate
        else None
    )
    run.monitor = "val/loss" if val_loader is not None else "train/loss"
    if t.monitor == "val" and val_loader is None and by_loss:
        raise ConfigError("train.monitor=val but the data has no val split; set data.val_from_train (e.g. 0.1)")
    if not by_loss:  # adversarial losses do not rank checkpoints: the export is the last one
        run.monitor = "last epoch"
        if t.early_stopping_patience:
            raise ConfigError(
                f"train.early_stopping_patience needs a loss that ranks checkpoints; {model.config.name!r} "
                "is adversarial, remove it"
            )
    callbacks = engine_callbacks(
        t,
        run.run_dir,
        seed=run.seed,
        by_loss=by_loss,
        monitor=run.monitor,
        progress_refresh=max(1, len(train_loader) // 50) if run.show else 0,
    )
    loggers = build_loggers(t.logger, run.run_dir)
    if loggers and not run.worker:
        log_config(loggers, to_dict(run.cfg))
    trainer = L.Trainer(
        max_epochs=t.epochs,
        max_time={"seconds": 60.0 * t.max_minutes} if t.max_minutes else None,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=t.precision,
        deterministic=False,  # set in prepare with warn_only, so ops without a deterministic kernel still run
        callbacks=callbacks,
        logger=loggers or False,  # metrics.jsonl stays the source of truth
        enable_progress_bar=run.show,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches,
        default_root_dir=str(run.run_dir),
        plugins=[AtomicCheckpointIO()],
    )
    module = EngineModule(model, t, metrics_path=run.folder.metrics_log, val_seed=run.seed, privacy=run.privacy)
    sampler = getattr(train_loader, "sampler", None)  # radgen's epoch-seeded sampler, for a mid-epoch resume
    module.train_sampler = sampler if hasattr(sampler, "skip_next") else None
    return trainer, module, (train_loader, val_loader)


def fit(run: TrainingRun, trainer: L.Trainer, module: EngineModule, loaders: tuple) -> float:
    """Step 3b: Lightning's fit (continuing the resume checkpoint); the seconds it took. The processes
    a multi-device launch starts inherit the run directory and seed through the environment."""
    started = time.perf_counter()
    many = trainer.world_size > 1 and not run.worker
    if many:
        os.environ[RUN_DIR_ENV], os.environ[SEED_ENV] = str(run.run_dir), str(run.seed)
    try:
        with signals.deferred(lambda: trainer.received_sigterm):  # SIGTERM: Lightning stops at the batch end
            trainer.fit(module, *loaders, ckpt_path=run.resume_from, weights_only=True)
    except SystemExit as exc:  # SIGTERMException (status 0), or Lightning's exit after Ctrl-C (status 1)
        raise _stopped(run, trainer, sigterm=trainer.received_sigterm) from exc
    finally:
        if many:
            os.environ.pop(RUN_DIR_ENV, None)
            os.environ.pop(SEED_ENV, None)
    if "forward" in vars(run.model):
        del run.model.forward  # back to the eager method: exported and sampled models are plain modules
    return time.perf_counter() - started


def _stopped(run: TrainingRun, trainer: L.Trainer, *, sigterm: bool) -> BaseException:
    """The exception a stopped fit ends with: ``Terminated`` (SIGTERM) or ``KeyboardInterrupt`` (Ctrl-C), whose
    message names the checkpoint and the command that continues the run."""
    last = run.folder.last_checkpoint
    where = f"epoch {trainer.current_epoch + 1}, step {trainer.global_step}"
    if last.is_file():
        saved = "at this step" if sigterm else "at the end of the last full epoch"
        note = f"stopped at {where}; a resumable checkpoint {saved} is {last}: radgen train --resume {run.run_dir}"
    else:
        note = f"stopped at {where}, before the first checkpoint"
    return Terminated(f"terminated (SIGTERM); {note}") if sigterm else KeyboardInterrupt(note)


def finalise(run: TrainingRun, trainer: L.Trainer, elapsed: float) -> dict[str, Any]:
    """Step 4 (rank 0): load the best checkpoint (the last for adversarial models), export it, draw the
    final samples (per class too) and reconstructions, plot the curves, write and return ``metrics.json``."""
    model, folder, t = run.model, run.folder, run.cfg.train
    best_cb = next((cb for cb in trainer.checkpoint_callbacks if cb.filename == runfolder.BEST), None)
    best_path = Path(best_cb.best_model_path) if best_cb and best_cb.best_model_path else folder.last_checkpoint
    model.load_state_dict(load_state_from_checkpoint(best_path))
    model.eval().cpu()
    measured = model.after_fit(run.data["train"])  # e.g. the autoencoder's latent scale, stored in its buffers
    extra = {
        "data": run.info["data"],
        "seed": run.seed,
        "checkpoint": best_path.name,
        "pretrained": run.info["pretrained"],
        **({"fit": measured} if measured else {}),
    }
    save_exported(model, folder.export, extra=extra)
    write_final_figures(run)
    rows = read_metrics(folder.path)
    key = run.monitor.replace("/loss", "/loss/total")
    if run.by_loss:
        best_row = min((r for r in rows if key in r), key=lambda r: r[key], default=None)
    else:
        best_row = rows[-1] if rows else None
    summary = {
        "model": model.config.name,
        "parameters": run.info["parameters"],
        "epochs_run": len(rows),
        "batches_run": sum(int(r.get("train_batches", 0)) for r in rows),  # the budget actually trained
        "images_seen": sum(int(r.get("train_images", 0)) for r in rows),
        "monitor": run.monitor,
        "best_epoch": best_row["epoch"] if best_row else None,
        "best_loss": best_row.get(key) if best_row else None,
        "warnings": [w for r in rows for w in r.get("warnings", [])],
        "best_checkpoint": best_path.name,
        "train_seconds": round(elapsed, 2),
        "seconds_per_epoch": round(sum(r["seconds"] for r in rows) / max(1, len(rows)), 3),
        "stopped_early": bool(trainer.should_stop and len(rows) < t.epochs),
        "final": rows[-1] if rows else {},
        "prepare_seconds": run.prepare_seconds,
        **({"fit": measured} if measured else {}),
    }
    if run.privacy is not None:  # the epsilon spent, in metrics.json and run.json
        summary["privacy"] = run.info["privacy"] = run.privacy.record()
        write_json(folder.run_info, run.info)
    write_json(folder.summary, summary)
    return summary


def write_final_figures(run: TrainingRun) -> None:
    """``samples/final.png`` (and ``final_by_class.png``), ``reconstructions.png`` and ``curves.png``."""
    model, folder, t = run.model, run.folder, run.cfg.train
    train_set, val_set = run.data["train"], run.data.splits.get("val")
    with torch.inference_mode():
        imgs, per_row = sample_grid(model, t.sample_count, seed=run.seed, num_classes=int(model.config.num_classes))
        save_grid(imgs, folder.final_samples, nrow=per_row or None)
        if model.supports_labels:  # the same samples, one labelled row per class
            per = len(imgs) // len(train_set.class_names)
            rows_by_class = {name: imgs[i * per : (i + 1) * per][:16] for i, name in enumerate(train_set.class_names)}
            save_class_grid(rows_by_class, folder.final_by_class, title=f"{model.config.name}: samples per class")
        if model.encoding != "none":
            ref = val_set if val_set is not None and len(val_set) else train_set
            x, y = ref.batch(torch.arange(min(8, len(ref))))  # 8 images (ref.images would convert the split)
            save_grid(torch.cat([x, model.reconstruct(x, y)]), folder.reconstructions, nrow=len(x))
    plot_curves(read_metrics(folder.path), folder.curves, title=f"{model.config.name} on {run.data.name}")


def resume_config(run_dir: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """The run's config with ``overrides``, checked: a resume applies train settings such as
    ``train.lr`` or ``train.epochs`` (``training.config.RESUMABLE``) and refuses any other change."""
    run_dir = Path(run_dir)
    if (run_dir / runfolder.WEIGHTS).is_file() and (run_dir.parent / runfolder.RUN_INFO).is_file():
        raise ConfigError(
            f"--resume {run_dir} is a run's export folder; resume the run folder itself: "
            f"radgen train --resume {run_dir.parent}"
        )
    path = RunFolder(run_dir).config
    if not path.is_file():
        raise MissingDataError(f"{path}: no config.yaml; is {run_dir} a radgen run directory?")
    for item in overrides or []:  # refused by name before the run's model config meets another model's keys
        key = item.split("=", 1)[0].strip()
        if key.split(".", 1)[0] in ("model", "data", "seed"):
            raise ConfigError(
                f"--resume cannot change {key} (a run continues with its own model, data and seed); start a new "
                "run for that: radgen train CONFIG --set ..."
            )
    cfg = load_run_config(path, overrides)
    resume_changes(load_run_config(path), cfg)
    return cfg
