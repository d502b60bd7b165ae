"""A run killed with SIGKILL in the middle of an epoch, then resumed, ends with the weights of
an uninterrupted run (CPU, deterministic mode): the checkpoint carries the optimizer, the
epoch-seeded sampler position and every RNG state, and the metrics log is trimmed to it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from radgen.training.run import load_state_from_checkpoint, read_metrics

ARGS = [
    "train",
    "tiny",
    "--no-progress",
    "--set",
    "train.epochs=4",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.sample_every=0",
    "--set",
    "train.checkpoint_every=0",
    "--set",
    "train.limit_train_batches=150",
]


def _radgen(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "radgen", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **kw,
    )


def _run_dir(out: Path) -> Path:
    (d,) = [p for p in out.iterdir() if p.is_dir()]
    return d


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """One uninterrupted run that every interrupted-then-resumed run is compared with."""
    out = tmp_path_factory.mktemp("ref")
    ref = _radgen(*ARGS, "--output-dir", str(out))
    text, _ = ref.communicate(timeout=300)
    assert ref.returncode == 0, text
    return _run_dir(out)


# SIGKILL cannot be caught: the last end-of-epoch checkpoint is what remains. SIGTERM (a scheduler's preemption)
# stops at the next batch boundary and saves a checkpoint there; Ctrl-C keeps the end-of-epoch one. Both end
# with 128 + the signal number and one line naming the resume command.
@pytest.mark.data_kit  # reaches the kit through the CLI or a subprocess
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_signal_mid_epoch_then_resume_matches_the_uninterrupted_run(tmp_path, reference_run, sig):
    victim = _radgen(*ARGS, "--output-dir", str(tmp_path / "victim"))
    deadline = time.time() + 300
    while time.time() < deadline:  # wait for the first end-of-epoch checkpoint, then signal inside epoch 2
        found = list((tmp_path / "victim").glob("*/checkpoints/last.ckpt"))
        if found:
            break
        assert victim.poll() is None, victim.stdout.read()
        time.sleep(0.05)
    time.sleep(0.05)  # inside epoch 2 (an epoch takes ~0.2 s); the exact boundaries are the test below
    victim.send_signal(sig)
    text, _ = victim.communicate(timeout=120)
    run = _run_dir(tmp_path / "victim")
    assert not (run / "export").exists() and len(read_metrics(run)) < 4  # it really stopped before the end
    if sig == signal.SIGKILL:
        assert victim.returncode == -signal.SIGKILL
    else:
        assert victim.returncode == 128 + sig, text
        last = text.strip().splitlines()[-1]
        assert last.startswith("radgen: ") and f"radgen train --resume {run}" in last, text
        step = int(torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)["global_step"])
        stopped_at = int(re.search(r"stopped at epoch \d+, step (\d+)", last).group(1))
        # SIGTERM: saved at the step where it stopped; Ctrl-C: the last end-of-epoch checkpoint is kept
        expected = stopped_at if sig == signal.SIGTERM else read_metrics(run)[-1]["step"]
        assert step == expected, (step, stopped_at, read_metrics(run), text)

    resumed = _radgen("train", "--resume", str(run), "--no-progress")
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out

    rows_ref, rows = read_metrics(reference_run), read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4] and [r["step"] for r in rows] == [r["step"] for r in rows_ref]
    # every epoch trained its batches once, and the resumed run is the uninterrupted one, bit for bit
    assert [r["train_batches"] for r in rows] == [r["train_batches"] for r in rows_ref]
    a = load_state_from_checkpoint(reference_run / "checkpoints/last.ckpt")
    b = load_state_from_checkpoint(run / "checkpoints/last.ckpt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), (
        "resumed weights differ from the uninterrupted run"
    )
    assert [r["train/loss/total"] for r in rows] == [r["train/loss/total"] for r in rows_ref]
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 4


class _SigtermAt(Callback):
    """Sends this process SIGTERM at one exact point of epoch 2 (0-based epoch 1): the boundaries a timed
    signal hits only by chance (the epoch's last training batch, its validation, its end)."""

    def __init__(self, hook: str, batch: int | None = None):
        self.hook, self.batch, self.sent = hook, batch, False

    def _maybe(self, trainer, hook: str, batch: int | None = None) -> None:
        if not self.sent and hook == self.hook and trainer.current_epoch == 1 and batch == self.batch:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._maybe(trainer, "train_batch", batch_idx)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._maybe(trainer, "val_batch", batch_idx)

    def on_validation_end(self, trainer, pl_module):
        self._maybe(trainer, "val_end")

    def on_train_epoch_start(self, trainer, pl_module):
        self._maybe(trainer, "epoch_start")


# where SIGTERM lands -> the steps of the checkpoint it leaves (Lightning stops at the next batch boundary)
BOUNDARIES = {
    "mid-epoch": ("train_batch", 4),
    "after the epoch's last batch": ("train_batch", 149),
    "in the epoch's validation": ("val_batch", 1),
    "after the epoch's validation": ("val_end", None),
    "at the next epoch's start": ("epoch_start", None),
}


@pytest.mark.data_kit
@pytest.mark.parametrize("where", list(BOUNDARIES))
def test_sigterm_at_every_epoch_boundary_resumes_to_the_uninterrupted_run(tmp_path, reference_run, monkeypatch, where):
    """A SIGTERM in the epoch's validation once left a checkpoint whose resume skipped the next epoch's first
    batches (the skip meant for the stopped epoch went to the next one): 565 steps instead of 600."""
    import radgen.training.run as run_mod
    from radgen import api
    from radgen.errors import Terminated

    hook, batch = BOUNDARIES[where]
    sender = _SigtermAt(hook, batch)
    make = run_mod.engine_callbacks
    monkeypatch.setattr(run_mod, "engine_callbacks", lambda *a, **k: [*make(*a, **k), sender])
    overrides = [a for a in ARGS[4:] if a != "--set"]
    with pytest.raises(Terminated, match="radgen train --resume"):
        api.train("tiny", overrides=overrides, output_dir=tmp_path, progress=False)
    assert sender.sent
    run = _run_dir(tmp_path)
    assert len(read_metrics(run)) < 4
    monkeypatch.setattr(run_mod, "engine_callbacks", make)
    api.train(resume=run, progress=False)
    # every row but its clock is the uninterrupted run's: steps, batches, train and validation losses
    rows_ref, rows = read_metrics(reference_run), read_metrics(run)
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in rows] == [
        {k: v for k, v in r.items() if k != "seconds"} for r in rows_ref
    ]
    a = load_state_from_checkpoint(reference_run / "checkpoints/last.ckpt")
    b = load_state_from_checkpoint(run / "checkpoints/last.ckpt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"resumed weights differ ({where})"
    # the best checkpoint is chosen from the same validation losses
    best = [p for p in (run / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    best_ref = [p for p in (reference_run / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    assert [p.name for p in best] == [p.name for p in best_ref]
    a, b = load_state_from_checkpoint(best_ref[0]), load_state_from_checkpoint(best[0])
    assert all(torch.equal(a[k], b[k]) for k in a)
