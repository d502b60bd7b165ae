"""The Lightning adapter: one module that drives any registered ``GenerativeModel``.

Manual optimisation over the model's optimizer groups, in the order it declares, with
the number of steps per batch it asks for (``group_steps``); nothing here knows which
model it drives. Per-epoch means of every logged term (train and val), the KL of each
latent dimension and the number of active units are computed here and written as one
JSON line per epoch. The RNG states ride along in checkpoints so a resume continues the
same random stream.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from radgen.errors import RadgenError
from radgen.models.base import GenerativeModel, ModelOutput
from radgen.models.latent import ACTIVE_UNIT_THRESHOLD
from radgen.nn.optim import fused_ok
from radgen.training.config import TrainConfig
from radgen.training.loggers import log_epoch

log = logging.getLogger(__name__)

PROGRESS_LOG_EVERY = 10  # steps between progress-bar loss updates


# The divergence rule: a group's loss diverged when its magnitude exceeds DIVERGE_FACTOR times its reference, the
# mean |loss| over that group's first DIVERGE_WARMUP steps of the run, floored at DIVERGE_FLOOR so that losses
# that start near 0 (a critic's) stop above an absolute 1e6. A run at lr=1e3 reaches ~1e29 within an epoch.
DIVERGE_FACTOR = 1e6
DIVERGE_WARMUP = 10  # steps per optimizer group that set the reference magnitude
DIVERGE_FLOOR = 1.0


class NonFiniteLossError(RadgenError):
    """A loss term became NaN or Inf, or diverged (the rule above); training stopped."""


class EpochAccumulator:
    """Batch-size-weighted means of scalar logs, and sums for per-dimension statistics."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.n = 0  # images
        self.batches = 0
        self.kl_sum: torch.Tensor | None = None
        self.mu_sum: torch.Tensor | None = None
        self.mu_sq_sum: torch.Tensor | None = None

    def state(self) -> dict[str, Any]:
        """Everything added so far, on the CPU (a mid-epoch checkpoint carries it, so the epoch's means after a
        resume equal the uninterrupted run's)."""

        def cpu(v):
            return v.detach().cpu() if isinstance(v, torch.Tensor) else v

        return {
            "sums": {k: cpu(v) for k, v in self.sums.items()},
            "n": self.n,
            "batches": self.batches,
            "kl_sum": cpu(self.kl_sum),
            "mu_sum": cpu(self.mu_sum),
            "mu_sq_sum": cpu(self.mu_sq_sum),
        }

    def load(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (what ``state()`` returned)."""
        self.reset()
        self.sums.update(state["sums"])
        self.n, self.batches = int(state["n"]), int(state["batches"])
        self.kl_sum, self.mu_sum, self.mu_sq_sum = state["kl_sum"], state["mu_sum"], state["mu_sq_sum"]

    def add(self, out: ModelOutput, batch_size: int) -> None:
        """Adds one batch. Nothing here waits for the device: sums of GPU tensors stay on the GPU
        until ``summary`` (one host sync per epoch, not one per logged term per step)."""
        self.n += batch_size
        self.batches += 1
        for k, v in out.logs.items():
            self.sums[k] += (
                v.detach() * batch_size
                if isinstance(v, torch.Tensor) and v.device.type != "cpu"
                else float(v) * batch_size
            )
        kl = out.stats.get("kl_per_dim")
        if kl is not None:
            s = kl.detach().float().sum(0)
            self.kl_sum = s if self.kl_sum is None else self.kl_sum + s
        mu = out.stats.get("mu")
        if mu is not None:
            m = mu.detach().float()
            self.mu_sum = m.sum(0) if self.mu_sum is None else self.mu_sum + m.sum(0)
            self.mu_sq_sum = (m * m).sum(0) if self.mu_sq_sum is None else self.mu_sq_sum + (m * m).sum(0)

    def summary(self) -> dict[str, Any]:
        if self.n == 0:
            return {}
        out: dict[str, Any] = {k: float(v) / self.n for k, v in self.sums.items()}
        if self.kl_sum is not None:
            out["kl_per_dim"] = [round(float(v), 5) for v in self.kl_sum.cpu() / self.n]
        if self.mu_sum is not None and self.n > 1:
            mean = self.mu_sum.cpu() / self.n
            var = (self.mu_sq_sum.cpu() / self.n - mean**2).clamp(min=0) * self.n / (self.n - 1)
            out["active_units"] = int((var > ACTIVE_UNIT_THRESHOLD).sum())
        return out


def build_optimizers(model: GenerativeModel, cfg: TrainConfig) -> list[torch.optim.Optimizer]:
    """One Adam (or AdamW) per optimizer group of ``model``, in the order it declares them.

    ``cfg.fused_optimizer`` null (the default) uses torch's fused kernel wherever every parameter
    of the group allows it: the same update as the per-tensor loop to float32 rounding, one kernel
    for all tensors. The plain-loop baseline of ``benchmarks/plain_loop.py`` builds its optimizers here too."""
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    groups = model.optimizer_groups()
    unknown = set(cfg.lr_groups) - set(groups)
    if unknown:
        raise RadgenError(
            f"train.lr_groups names {sorted(unknown)}, but the model's optimizer groups are {list(groups)}"
        )
    opts = []
    for g, params in groups.items():
        params = list(params)
        fused = fused_ok(params) if cfg.fused_optimizer is None else bool(cfg.fused_optimizer)
        opts.append(
            opt_cls(
                params,
                lr=cfg.lr_groups.get(g, cfg.lr),
                betas=tuple(cfg.betas),
                weight_decay=cfg.weight_decay,
                fused=fused or None,
            )
        )
    return opts


class EngineModule(L.LightningModule):
    """Lightning's public API only (its GAN example's ``toggle_optimizer`` -> ``manual_backward`` ->
    ``opt.step``): no name with a leading underscore from Lightning, so radgen follows Lightning's
    releases, not one patch release's internals."""

    FINITE_CHECK_EVERY = {"cpu": 1, "default": 10}  # steps between NaN/Inf checks, by device type

    def __init__(
        self,
        model: GenerativeModel,
        train_cfg: TrainConfig,
        *,
        metrics_path: Path | None = None,
        val_seed: int = 0,
        privacy=None,
    ):
        super().__init__()
        self.privacy = privacy  # training.privacy.PrivateTraining: wraps the private groups' optimizers
        self.val_seed = val_seed
        self.model = model
        self.cfg = train_cfg
        self.metrics_path = metrics_path
        self.automatic_optimization = False
        self.group_names = list(model.optimizer_groups())
        # the default schedule (one step per group) needs no per-step call: it would list every parameter each step
        self._scheduled = type(model).group_steps is not GenerativeModel.group_steps
        self.acc = {"train": EpochAccumulator(), "val": EpochAccumulator()}
        self.saving_mid_epoch = False  # set by StopCheckpoint around its save
        self.mid_epoch_resume: dict[str, Any] | None = None  # a SIGTERM checkpoint's epoch state, once loaded
        self._epoch_open = False  # between on_train_epoch_start and the end of on_train_epoch_end
        self.train_sampler = None  # the training loader's EpochSeededSampler (build_trainer), for a mid-epoch resume
        self.val_summary: dict[str, Any] = {}
        self.pending_row: dict[str, Any] = {}  # extra columns for this epoch's row, set by callbacks
        self._epoch_start = time.perf_counter()
        self._finite_pending: list[tuple] = []  # (step, epoch, group, loss, logs) not yet checked for NaN/Inf
        self.loss_reference: dict[str, float] = {}  # per group: mean |loss| of its first steps (divergence rule)
        self._warmup_losses: dict[str, list[float]] = {}

    # -- optimisers ------------------------------------------------------------------------
    def configure_optimizers(self):
        opts = build_optimizers(self.model, self.cfg)
        return opts if self.privacy is None else self.privacy.wrap_optimizers(self.group_names, opts)

    def group_optimizers(self) -> list:
        opts = self.optimizers()
        return opts if isinstance(opts, list) else [opts]

    # -- steps -------------------------------------------------------------------------------
    def _check_finite(self, out: ModelOutput, group: str, *, flush: bool = False) -> None:
        """Stop on a NaN/Inf loss, naming the term, the step and the group.

        On the CPU every step is checked as it happens (reading a CPU scalar costs nothing). On an
        accelerator, reading it would make every step wait for the device, so the losses stay there
        and are checked together every ``FINITE_CHECK_EVERY["default"]`` steps and at an epoch's last batch,
        before any checkpoint is written; the error still names the first bad step."""
        loss = out.loss.detach()
        every = self.FINITE_CHECK_EVERY.get(loss.device.type, self.FINITE_CHECK_EVERY["default"])
        if every == 1 and not self._finite_pending:
            v = float(loss)
            if math.isfinite(v) and abs(v) <= self._loss_bound(group):
                self._observe_loss(group, v)
                return  # the CPU's every-step check: one scalar read, nothing kept
        self._finite_pending.append(
            (
                int(self.global_step),
                int(self.current_epoch),
                group,
                loss,
                {k: v for k, v in out.logs.items() if isinstance(v, torch.Tensor)},
            )
        )
        if flush or len(self._finite_pending) >= every:
            self._flush_finite_check()

    def _loss_bound(self, group: str) -> float:
        ref = self.loss_reference.get(group)
        return math.inf if ref is None else DIVERGE_FACTOR * max(ref, DIVERGE_FLOOR)

    def _observe_loss(self, group: str, value: float) -> None:
        if group in self.loss_reference:
            return
        seen = self._warmup_losses.setdefault(group, [])
        seen.append(abs(value))
        if len(seen) >= DIVERGE_WARMUP:
            self.loss_reference[group] = sum(seen) / len(seen)

    def _flush_finite_check(self) -> None:
        pending, self._finite_pending = self._finite_pending, []
        if not pending:
            return
        values = torch.stack([p[3].float().reshape(()).cpu() for p in pending]).tolist()  # one device sync
        for (step, epoch, group, loss, logs), v in zip(pending, values):
            if not math.isfinite(v):
                bad = [k for k, x in logs.items() if not math.isfinite(float(x))] or ["loss/total"]
                raise NonFiniteLossError(
                    f"{bad[0]} became {float(logs.get(bad[0], loss)):.4g} at step {step} (epoch {epoch}, "
                    f"group {group!r}); training stopped; lower train.lr or set train.gradient_clip"
                )
            if abs(v) > self._loss_bound(group):
                ref = self.loss_reference[group]
                raise NonFiniteLossError(
                    f"loss/total diverged to {v:.4g} at step {step} (epoch {epoch}, group {group!r}): above "
                    f"{DIVERGE_FACTOR:.0e} x its first {DIVERGE_WARMUP} steps' mean magnitude {ref:.4g} (floored at "
                    f"{DIVERGE_FLOOR:g}); training stopped; lower train.lr or set train.gradient_clip"
                )
            self._observe_loss(group, v)

    def _backward_and_step(self, opt, loss: torch.Tensor) -> None:
        """Lightning's manual-optimisation calls: backward (loss scaling, DDP sync and precision handled by
        Lightning), norm clipping, the optimizer step (which advances the global step checkpoints use)."""
        self.manual_backward(loss)
        if self.cfg.gradient_clip:
            self.clip_gradients(opt, gradient_clip_val=self.cfg.gradient_clip, gradient_clip_algorithm="norm")
        opt.step()

    def training_step(self, batch, batch_idx: int):
        n_batches = self.trainer.num_training_batches
        last_batch = batch_idx + 1 >= n_batches
        self.model.set_epoch(
            self.current_epoch + batch_idx / (max(1, int(n_batches)) if math.isfinite(n_batches) else 1)
        )
        steps = self.model.group_steps(batch_idx) if self._scheduled else {}
        many = len(self.group_names) > 1
        logs: dict[str, torch.Tensor] = {}
        merged = ModelOutput(loss=torch.zeros(()), logs=logs, stats={})
        # Work the groups' steps share (a GAN's fake batch, made once with the generator's graph) is done
        # here, before toggle_optimizer freezes the other groups' parameters (GenerativeModel.begin_batch).
        self.model.begin_batch(batch, batch_idx)
        for group, opt in zip(self.group_names, self.group_optimizers()):
            for _ in range(int(steps.get(group, 1))):
                if many:
                    self.toggle_optimizer(opt)
                if self.privacy is not None:
                    self.privacy.select(group)
                out = self.model(batch, group=group)
                self._check_finite(out, group, flush=last_batch)
                opt.zero_grad(set_to_none=True)
                self._backward_and_step(opt, out.loss)
                self.model.after_optimizer_step(group)
                if many:
                    self.untoggle_optimizer(opt)
                logs.update(out.logs)
                merged.stats.update(out.stats)
        self.model.end_batch()
        x = batch[0]
        self.acc["train"].add(merged, x.shape[0])
        if (
            batch_idx % PROGRESS_LOG_EVERY == 0
        ):  # Lightning's per-call logging costs ~1 ms: the bar's loss is refreshed every few steps
            shown = (
                {"loss": logs["loss/total"]}
                if "loss/total" in logs
                else {k.removeprefix("loss/"): v for k, v in logs.items() if k.startswith("loss/")}
            )
            self.log_dict(shown, prog_bar=True, logger=False, on_step=True, on_epoch=False, batch_size=x.shape[0])

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        """(images, labels) to the device: nothing to do on the CPU; asynchronous copies from pinned memory
        on a GPU.
        """
        if self.cfg.channels_last:
            batch = (batch[0].contiguous(memory_format=torch.channels_last), *batch[1:])
        if device.type == "cpu":
            return batch
        return tuple(t.to(device, non_blocking=True) for t in batch)

    def validation_step(self, batch, batch_idx: int):
        # Common random numbers: the same noise for the same validation batch every epoch, so
        # epochs are compared on the model alone; the forked RNG leaves training's stream as it was.
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.val_seed + batch_idx)
            out = self.model(batch, group=self.group_names[0])
        self.acc["val"].add(out, batch[0].shape[0])

    # -- epoch bookkeeping --------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_open = True
        self.acc["train"].reset()

    def mid_epoch_state(self) -> dict[str, Any]:
        """What a checkpoint written inside an epoch (``StopCheckpoint``) carries to continue that epoch exactly."""
        # A SIGTERM can land after the epoch's last training batch (in its validation): Lightning then resumes
        # with the validation and the epoch's end, and draws no training batch of that epoch again
        planned = self.trainer.num_training_batches
        return {
            "acc": self.acc["train"].state(),
            "seconds": time.perf_counter() - self._epoch_start,
            "batch_size": int(self.cfg.batch_size),
            "train_done": bool(math.isfinite(planned) and self.acc["train"].batches >= planned),
        }

    def on_validation_epoch_start(self) -> None:
        self.acc["val"].reset()

    def on_validation_epoch_end(self) -> None:
        self.val_summary = self.acc["val"].summary()
        if "loss/total" in self.val_summary:
            self.log("val/loss", self.val_summary["loss/total"], prog_bar=True, logger=False, sync_dist=True)

    def on_train_epoch_end(self) -> None:
        self._flush_finite_check()  # normally done at the last batch already; loaders of unknown length end here
        train = self.acc["train"].summary()
        if "loss/total" in train:
            self.log("train/loss", train["loss/total"], prog_bar=False, logger=False, sync_dist=True)
        row: dict[str, Any] = {
            "epoch": self.current_epoch + 1,
            "step": int(self.global_step),
            "seconds": round(time.perf_counter() - self._epoch_start, 3),
            "train_batches": self.acc["train"].batches,  # the budget actually trained (issue 18, Deliver 7)
            "train_images": self.acc["train"].n,
        }
        row.update({f"train/{k}": v for k, v in train.items()})
        row.update({f"val/{k}": v for k, v in self.val_summary.items()})
        row.update(self.pending_row)
        warnings = [
            w
            for w in (
                row.pop("warning", None),
                self.model.collapse_check(train),
            )
            if w
        ]
        if warnings:
            row["warnings"] = warnings
            for w in warnings:
                log.warning("epoch %d: %s", self.current_epoch + 1, w)
        self.val_summary, self.pending_row = {}, {}
        if self.metrics_path is not None and self.trainer.is_global_zero:
            with open(self.metrics_path, "a") as f:  # append-only log: one complete line per epoch
                f.write(json.dumps(row) + "\n")
            if self.loggers:  # train.logger: the same row to Lightning's experiment loggers
                log_epoch(self.loggers, row, step=row["step"])
        self._epoch_open = False

    # -- RNG state in checkpoints ------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        np_state = np.random.get_state()
        checkpoint["radgen_rng"] = {
            "torch": torch.get_rng_state(),
            "numpy": [
                np_state[0],
                torch.from_numpy(np_state[1].astype(np.int64)),
                int(np_state[2]),
                int(np_state[3]),
                float(np_state[4]),
            ],
            "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        checkpoint["radgen_loss_reference"] = dict(self.loss_reference)  # the divergence rule survives a resume
        if self.saving_mid_epoch and self._epoch_open:  # a stop after the epoch's end is an end-of-epoch checkpoint
            checkpoint["radgen_mid_epoch"] = self.mid_epoch_state()

    def on_train_start(self) -> None:
        """Every optimizer's learning rate, betas and weight decay from the config: a no-op on a new run; on a
        resume it applies ``--set train.lr=...`` (and the others), which the restored optimizer state would
        otherwise silently replace with the checkpoint's values."""
        if self.mid_epoch_resume:  # the restarted epoch's clock counts the time before the stop
            self._epoch_start = time.perf_counter() - float(self.mid_epoch_resume["seconds"])
            # Lightning made the epoch's loader iterator after the restore, and a DataLoader iterator draws its
            # base seed from the global RNG: set the checkpoint's state again, so the stream continues exactly
            self._set_rng(self.mid_epoch_resume["rng"])
            self.mid_epoch_resume = None
        for group, opt in zip(self.group_names, self.group_optimizers()):
            inner = getattr(opt, "optimizer", opt)
            for pg in inner.param_groups:
                pg["lr"] = float(self.cfg.lr_groups.get(group, self.cfg.lr))
                pg["betas"] = tuple(self.cfg.betas)
                pg["weight_decay"] = self.cfg.weight_decay

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.mid_epoch_resume = checkpoint.get("radgen_mid_epoch")
        if self.mid_epoch_resume:  # a SIGTERM checkpoint: skip the batches trained, keep the epoch's sums
            # (Lightning makes the epoch's iterator before any hook, and calls no on_train_epoch_start for it)
            self._epoch_open = True
            self.acc["train"].load(self.mid_epoch_resume["acc"])
            done = int(self.mid_epoch_resume["acc"]["batches"]) * int(self.mid_epoch_resume["batch_size"])
            if self.mid_epoch_resume.get("train_done"):
                pass  # stopped in the epoch's validation: no batch of this epoch is drawn again, nothing to skip
            elif self.train_sampler is not None:
                self.train_sampler.skip_next(done, epoch=int(checkpoint["epoch"]))
            else:
                log.warning("resuming mid-epoch without radgen's sampler: the epoch restarts from its first batch")
        self.loss_reference = {str(k): float(v) for k, v in (checkpoint.get("radgen_loss_reference") or {}).items()}
        rng = checkpoint.get("radgen_rng")
        if self.mid_epoch_resume:
            self.mid_epoch_resume["rng"] = rng
        if rng:
            self._set_rng(rng)

    @staticmethod
    def _set_rng(rng: dict[str, Any] | None) -> None:
        """Every generator's state from a checkpoint's ``radgen_rng``."""
        if not rng:
            return
        torch.set_rng_state(rng["torch"])
        n = rng["numpy"]
        np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
        random.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in rng["python"]))
        if rng.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
