"""A run killed with SIGKILL in the middle of an epoch, then resumed, ends with the weights of
an uninterrupted run (CPU, deterministic mode): the checkpoint carries the optimizer, the
epoch-seeded sampler position and every RNG state, and the metrics log is trimmed to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

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


@pytest.mark.data_kit  # reaches the kit through the CLI or a subprocess
def test_sigkill_mid_epoch_then_resume_matches_the_uninterrupted_run(tmp_path):
    ref = _radgen(*ARGS, "--output-dir", str(tmp_path / "ref"))
    victim = _radgen(*ARGS, "--output-dir", str(tmp_path / "victim"))
    deadline = time.time() + 300
    while time.time() < deadline:  # wait for the first end-of-epoch checkpoint, then kill inside epoch 2
        found = list((tmp_path / "victim").glob("*/checkpoints/last.ckpt"))
        if found:
            break
        assert victim.poll() is None, victim.stdout.read()
        time.sleep(0.05)
    time.sleep(0.4)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(60) == -signal.SIGKILL
    run = _run_dir(tmp_path / "victim")
    assert not (run / "export").exists() and len(read_metrics(run)) < 4  # it really died before the end

    resumed = _radgen("train", "--resume", str(run), "--no-progress")
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    out_ref, _ = ref.communicate(timeout=300)
    assert ref.returncode == 0, out_ref

    a = load_state_from_checkpoint(_run_dir(tmp_path / "ref") / "checkpoints/last.ckpt")
    b = load_state_from_checkpoint(run / "checkpoints/last.ckpt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), (
        "resumed weights differ from the uninterrupted run"
    )
    rows_ref, rows = read_metrics(_run_dir(tmp_path / "ref")), read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4] and [r["step"] for r in rows] == [r["step"] for r in rows_ref]
    assert rows[-1]["train/loss/total"] == rows_ref[-1]["train/loss/total"]
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 4
