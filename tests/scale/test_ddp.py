"""Scale-out through the engine: DDP with 2 CPU processes (gloo), launched the way a user launches it.

One launch (two full epochs of the tiny config on the memory-mapped cache) serves both
tests: the ranks end with identical weights, and each rank read its own shard of every
epoch, in the order a resume recomputes from (seed, epoch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from lightning.fabric.utilities.distributed import DistributedSamplerWrapper
from safetensors.torch import load_file

from radgen.training.data import EpochSeededSampler

SEED, BATCH = 3, 128  # the run's seed; the tiny config's batch size
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from safetensors.torch import save_file
    import radgen.training.data as td
    from radgen.training.config import load_run_config
    from radgen.training.run import train

    out = sys.argv[1]
    rank = os.environ.get("LOCAL_RANK", "0")
    seen, epoch = [], [None]
    set_epoch, getitems = td.EpochSeededSampler.set_epoch, td.BatchView.__getitems__

    def record_epoch(self, e):
        epoch[0] = e
        return set_epoch(self, e)

    def record_batch(self, indices):  # every batch the engine's loader fetches on this rank
        seen.append({"epoch": epoch[0], "indices": list(indices), "n": len(self),
                     "storage": self.images.storage, "rows": self.images.rows is not None})
        return getitems(self, indices)

    td.EpochSeededSampler.set_epoch, td.BatchView.__getitems__ = record_epoch, record_batch
    cfg = load_run_config("tiny", [f"output_dir={out}/runs", "train.epochs=2", "train.limit_val_batches=0",
                                   "train.accelerator=cpu", "train.devices=2", "train.strategy=ddp",
                                   "train.sample_every=0", "train.checkpoint_every=0", "train.monitor=train",
                                   "data.storage=mmap", "seed=3"])
    result = train(cfg, progress=False)
    state = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, f"{out}/rank{rank}.safetensors")
    with open(f"{out}/rank{rank}.dir", "w") as f:
        f.write(str(result.run_dir))
    with open(f"{out}/rank{rank}.batches.json", "w") as f:
        json.dump(seen, f)
    """
)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, data_dir):
    tmp_path = tmp_path_factory.mktemp("ddp")
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "RADGEN_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    env.pop("RADGEN_RUN_DIR", None)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=280
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp_path


def test_each_rank_reads_its_own_shard_of_every_epoch_in_the_resume_exact_order(ddp_run):
    seen = {r: json.loads((ddp_run / f"rank{r}.batches.json").read_text()) for r in (0, 1)}
    (n,) = {b["n"] for r in (0, 1) for b in seen[r]}  # the tiny config's train split (PneumoniaMNIST minus val)
    assert 4000 < n < 4708
    assert all(b["storage"] == "mmap" and b["rows"] for r in (0, 1) for b in seen[r])  # mapped, carved by rows
    per_rank = -(-n // 2)  # DistributedSampler pads the epoch to a multiple of the world size
    orders = {}
    for epoch in (0, 1):
        got = {r: [i for b in seen[r] if b["epoch"] == epoch for i in b["indices"]] for r in (0, 1)}
        assert len(got[0]) == len(got[1]) == per_rank
        assert set(got[0]) | set(got[1]) == set(range(n))  # together the ranks read the whole epoch
        assert len(set(got[0]) & set(got[1])) == 2 * per_rank - n  # disjoint but for the padding
        for r in (0, 1):
            # a pure function of (seed, epoch): what a resumed run recomputes for this epoch
            expect = DistributedSamplerWrapper(
                EpochSeededSampler(n, seed=SEED), num_replicas=2, rank=r, shuffle=True, seed=SEED
            )
            expect.set_epoch(epoch)
            assert got[r] == list(expect), f"rank {r}, epoch {epoch}"
            assert len(next(b for b in seen[r] if b["epoch"] == epoch)["indices"]) == BATCH
        orders[epoch] = got[0]
    assert orders[0] != orders[1]  # a new order each epoch


def test_two_process_gloo_ddp_ends_with_identical_weights_on_both_ranks(ddp_run):
    tmp_path = ddp_run
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
