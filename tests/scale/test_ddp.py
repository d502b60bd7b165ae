"""Scale-out through the engine: DDP with 2 CPU processes (gloo), launched the way a user launches it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import torch
from safetensors.torch import load_file

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from safetensors.torch import save_file
    from radgen.training.config import load_run_config
    from radgen.training.run import train

    out = sys.argv[1]
    cfg = load_run_config("tiny", [f"output_dir={out}/runs", "train.epochs=1", "train.limit_train_batches=6",
                                   "train.limit_val_batches=2", "train.accelerator=cpu", "train.devices=2",
                                   "train.strategy=ddp", "train.sample_every=0", "train.checkpoint_every=0",
                                   "train.monitor=train", "seed=3"])
    result = train(cfg, progress=False)
    rank = os.environ.get("LOCAL_RANK", "0")
    state = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, f"{out}/rank{rank}.safetensors")
    with open(f"{out}/rank{rank}.dir", "w") as f:
        f.write(str(result.run_dir))
    """
)


def test_two_process_gloo_ddp_ends_with_identical_weights_on_both_ranks(tmp_path, data_dir):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "RADGEN_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    env.pop("RADGEN_RUN_DIR", None)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=280
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0, w1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert w0.keys() == w1.keys() and len(w0) > 0
    for k in w0:
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0, msg=f"{k} differs between ranks")
    # one run directory for both processes, written by rank 0 only; the weights were trained
    assert (tmp_path / "rank0.dir").read_text() == (tmp_path / "rank1.dir").read_text()
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "export" / "weights.safetensors").is_file()
    exported = load_file(runs[0] / "export" / "weights.safetensors")
    assert exported.keys() == w0.keys() and all(torch.equal(exported[k], w0[k]) for k in w0)
    from radgen.models.base import build_model, model_config_from_dict

    torch.manual_seed(3)
    fresh = build_model(
        model_config_from_dict({"name": "vae", "latent_dim": 8, "hidden": [64, 64]}),
        image_size=28,
        channels=1,
        num_classes=2,
    )
    assert any(not torch.equal(fresh.state_dict()[k], w0[k]) for k in w0), "weights did not move: no training happened"
