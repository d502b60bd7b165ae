"""Callbacks: sample grids every N epochs; the every-epoch ``last.ckpt``; ``last.ckpt`` on SIGTERM."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from radgen.runfolder import EPOCH_SAMPLES, LAST
from radgen.viz import save_grid

MS_SSIM_COLLAPSE = 0.9  # mean pairwise MS-SSIM of samples above this: near-identical (real sets: 0.16-0.58)


def sample_grid(model, n: int, *, seed: int, num_classes: int) -> tuple[torch.Tensor, int]:
    """Seeded samples and the grid width; a class-conditional model gets one block of rows per class."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    draw = model.preview  # sample, or a cheaper sampler where that is slow (DDPM)
    if model.supports_labels:
        per = max(1, n // num_classes)
        width = 8 if per % 8 == 0 else per  # class blocks of full rows
        labels = torch.arange(num_classes).repeat_interleave(per)
        return draw(len(labels), labels=labels, generator=g).cpu(), width
    return draw(n, generator=g).cpu(), 0


class SampleGrids(L.Callback):
    """Writes a grid of seeded samples every ``every`` epochs into ``folder``."""

    def __init__(self, folder: Path, *, every: int, count: int, seed: int):
        self.folder, self.every, self.count, self.seed = folder, every, count, seed

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch + 1
        if not self.every or epoch % self.every or not trainer.is_global_zero:
            return
        model = pl_module.model
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                imgs, per_row = sample_grid(
                    model, self.count, seed=self.seed, num_classes=int(model.config.num_classes)
                )
        finally:
            model.train(was_training)
        path = save_grid(imgs, self.folder / EPOCH_SAMPLES.format(epoch=epoch), nrow=per_row or None)
        if trainer.loggers:  # train.logger: TensorBoard shows the grid, MLflow keeps it as an artifact
            from radgen.training.loggers import log_image

            log_image(trainer.loggers, "samples", path, step=trainer.global_step)
        if len(imgs) >= 8:
            from radgen.metrics.diversity import pairwise_ms_ssim

            div = pairwise_ms_ssim(imgs, n_pairs=100, seed=self.seed)["ms_ssim"]
            pl_module.pending_row["samples/ms_ssim"] = round(div, 4)
            if div > MS_SSIM_COLLAPSE:
                pl_module.pending_row["warning"] = (
                    f"samples are nearly identical (mean pairwise MS-SSIM {div:.3f} > "
                    f"{MS_SSIM_COLLAPSE}): mode collapse"
                )


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt`` at the end of every epoch, whatever the monitored loss did.

    Lightning's ``save_last=True`` (2.6) rewrites ``last.ckpt`` only when its own callback saved a
    checkpoint in that step, i.e. when the best loss improved, so after an epoch that did not
    improve, ``last.ckpt`` was an older epoch and a resume silently repeated epochs. This one saves
    at every train-epoch end (after validation), atomically through the trainer's checkpoint IO."""

    def __init__(self, dirpath: Path):
        super().__init__(
            dirpath=dirpath,
            filename=LAST,
            monitor=None,
            save_top_k=1,
            every_n_epochs=1,
            save_on_train_epoch_end=True,
            enable_version_counter=False,
            auto_insert_metric_name=False,
        )

    @property
    def state_key(self) -> str:
        """Distinct from an unmonitored every-epoch ModelCheckpoint (the periodic one); the key checkpoints
        written by earlier radgen versions hold, so they resume."""
        return "LastCheckpoint{'role': 'last'}"


class StopCheckpoint(L.Callback):
    """On SIGTERM, ``last.ckpt`` at the batch boundary where Lightning stopped (its fault-tolerant path:
    the signal sets ``trainer.received_sigterm``, the loop raises ``SIGTERMException`` after the batch, and
    ``on_exception`` callbacks run), so ``radgen train --resume RUN`` continues from there.

    A SIGTERM from the start of an epoch's last training batch to the end of its validation is held until the
    validation ends, and the run stops at the epoch's end: Lightning, resumed from a stop inside its validation,
    skips the rest of it, so that epoch would have no validation loss and could not rank as the best checkpoint.
    The hold lasts one validation (``train.limit_val_batches`` bounds it).

    Only SIGTERM: a Ctrl-C (``KeyboardInterrupt``) can land inside an optimizer step, and an error (a NaN)
    must not replace the last good checkpoint, so both keep the last end-of-epoch ``last.ckpt``. (Not
    Lightning's ``OnExceptionCheckpoint``: with it present, a fit given no checkpoint resumes from "last".)"""

    def __init__(self, dirpath: Path):
        self.path = Path(dirpath) / f"{LAST}.ckpt"
        self._lightning = None  # Lightning's SIGTERM handler, wrapped from on_train_start to on_train_end
        self._holding, self._pending = False, None

    def on_train_start(self, trainer, pl_module) -> None:
        previous = signal.getsignal(signal.SIGTERM)  # Lightning registered its handler when the fit started
        if callable(previous) and threading.current_thread() is threading.main_thread():
            self._lightning = previous
            signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum, frame) -> None:
        if self._holding:
            self._pending = (signum, frame)
        elif self._lightning is not None:
            self._lightning(signum, frame)

    def _release(self) -> None:
        self._holding = False
        pending, self._pending = self._pending, None
        if pending is not None and self._lightning is not None:
            self._lightning(*pending)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx + 1 >= trainer.num_training_batches:  # the epoch's last batch: hold through its validation
            self._holding = True

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._release()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._release()  # an epoch without validation

    def on_train_end(self, trainer, pl_module) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._lightning is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._lightning)
        self._lightning, self._holding, self._pending = None, False, None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        self._restore()
        if isinstance(exception, SIGTERMException):
            pl_module.saving_mid_epoch = True  # the checkpoint carries the epoch's progress (EngineModule)
            try:
                trainer.save_checkpoint(self.path)
            finally:
                pl_module.saving_mid_epoch = False
