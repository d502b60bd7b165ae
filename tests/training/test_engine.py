"""The training engine: run directory, metrics, checkpoints, resume, early stopping, NaN guard, CLI."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from radgen.cli import main
from radgen.models import load_exported
from radgen.training import load_run_config, train
from radgen.training.module import NonFiniteLossError
from radgen.training.run import load_state_from_checkpoint, new_run_dir, read_metrics, resume_config


def tiny(tmp_path, *overrides: str):
    base = [
        "train.progress_bar=false",
        f"output_dir={tmp_path}",
        "train.limit_train_batches=8",
        "train.limit_val_batches=2",
    ]
    return load_run_config("tiny", [*base, *overrides])


def test_run_directory_is_complete_and_self_describing(tmp_path):
    r = train(tiny(tmp_path, "train.epochs=2"))
    d = r.run_dir
    for f in (
        "config.yaml",
        "run.json",
        "metrics.jsonl",
        "metrics.json",
        "reconstructions.png",
        "samples/final.png",
        "samples/epoch_0001.png",
        "samples/epoch_0002.png",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "export/config.yaml",
        "export/weights.safetensors",
    ):
        assert (d / f).is_file(), f
    rows = read_metrics(d)
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["step"] == 16  # 8 batches per epoch
    for key in (
        "train/loss/total",
        "train/loss/recon",
        "train/loss/kl",
        "val/loss/total",
        "train/beta",
        "train/active_units",
    ):
        assert key in rows[-1]
    assert len(rows[-1]["train/kl_per_dim"]) == 8  # tiny config: latent_dim 8
    info = json.loads((d / "run.json").read_text())
    assert info["seed"] == 0 and "BCE summed over C*H*W pixels" in info["losses"] and info["data"]["splits"]["val"] > 0
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    assert cfg["model"]["image_size"] == 28 and cfg["model"]["num_classes"] == 2  # filled from the data
    model, meta = load_exported(d)
    assert meta["data"]["class_names"] == ["normal", "pneumonia"]
    best = load_state_from_checkpoint(d / "checkpoints/best.ckpt")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in best.items())  # export = best checkpoint
    assert r.summary["best_epoch"] in (1, 2) and r.summary["epochs_run"] == 2


def test_resume_continues_exactly(tmp_path):
    full = train(tiny(tmp_path / "a", "train.epochs=3"))
    part = train(tiny(tmp_path / "b", "train.epochs=2"))
    resumed = train(resume_config(part.run_dir, ["train.epochs=3"]), resume=part.run_dir)
    assert resumed.run_dir == part.run_dir
    a = load_state_from_checkpoint(full.run_dir / "checkpoints/last.ckpt")
    b = load_state_from_checkpoint(part.run_dir / "checkpoints/last.ckpt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ra, rb = read_metrics(full.run_dir), read_metrics(part.run_dir)
    assert [r["step"] for r in rb] == [r["step"] for r in ra] == [8, 16, 24]
    assert rb[-1]["train/loss/total"] == ra[-1]["train/loss/total"]


def test_same_seed_same_weights_and_two_runs_never_share_a_directory(tmp_path):
    r1 = train(tiny(tmp_path, "train.epochs=1"))
    r2 = train(tiny(tmp_path, "train.epochs=1"))
    assert r1.run_dir != r2.run_dir
    s1, s2 = r1.model.state_dict(), r2.model.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    dirs = {new_run_dir(tmp_path / "x", "same") for _ in range(5)}
    assert len(dirs) == 5


def test_early_stopping_stops_when_validation_stalls(tmp_path):
    # lr must be > 0 (issue 16); 1e-30 moves no float32 weight, so the validation loss stalls exactly
    r = train(tiny(tmp_path, "train.epochs=10", "train.lr=1e-30", "train.early_stopping_patience=2"))
    assert r.summary["stopped_early"] and r.summary["epochs_run"] == 3  # no improvement after epoch 1


def test_max_minutes_caps_fitting_and_a_bad_value_is_refused_before_anything_is_written(tmp_path):
    from radgen.errors import ConfigError

    with pytest.raises(ConfigError, match="max_minutes"):
        train(tiny(tmp_path / "bad", "train.max_minutes=0"))
    assert not (tmp_path / "bad").exists()
    r = train(tiny(tmp_path, "train.epochs=1000", "train.max_minutes=0.0001"))  # 6 ms: stops in the first epoch
    assert r.summary["epochs_run"] <= 1 and r.summary["stopped_early"]


def test_non_finite_loss_stops_with_the_term_and_step(tmp_path, monkeypatch):
    from radgen.models.vae import MLPVAE

    original = MLPVAE.loss_terms
    calls = {"n": 0}

    def poisoned(self, x, y, **kw):
        t = original(self, x, y, **kw)
        calls["n"] += 1
        if calls["n"] > 3:
            t["kl"] = t["kl"] * float("nan")
        return t

    monkeypatch.setattr(MLPVAE, "loss_terms", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"loss/kl became nan at step 3 \(epoch 0"):
        train(tiny(tmp_path, "train.epochs=1"))
    # Deferred checks (what an accelerator does, so steps never wait for the device) name the same first bad step
    from radgen.training.module import EngineModule

    monkeypatch.setattr(EngineModule, "FINITE_CHECK_EVERY", {"cpu": 5, "default": 5})
    calls["n"] = 0
    with pytest.raises(NonFiniteLossError, match=r"loss/kl became nan at step 3 \(epoch 0"):
        train(tiny(tmp_path, "train.epochs=1"))
    assert calls["n"] == 5  # found at the 5th step's check, reported at the 4th (step 3)
    calls["n"] = -100  # poison from the 104th call: after the 8 steps of an epoch, caught at the epoch's last batch
    monkeypatch.setattr(EngineModule, "FINITE_CHECK_EVERY", {"cpu": 1000, "default": 1000})
    with pytest.raises(NonFiniteLossError, match=r"loss/kl became nan at step 103 \(epoch 12"):
        train(tiny(tmp_path, "train.epochs=20", "train.limit_val_batches=0"))
    last = max(tmp_path.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
    ckpt = torch.load(last, map_location="cpu", weights_only=False)  # written by this test
    assert ckpt["epoch"] == 11 and all(
        torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point()
    )  # the epoch with NaN never checkpointed


@pytest.mark.data_kit  # reaches the kit through the CLI or a subprocess
def test_cli_train_sample_reconstruct(tmp_path, capsys):
    out = tmp_path / "runs"
    assert (
        main(
            [
                "train",
                "tiny",
                "--output-dir",
                str(out),
                "--no-progress",
                "--set",
                "train.epochs=1",
                "--set",
                "train.limit_train_batches=4",
            ]
        )
        == 0
    )
    run = next(out.iterdir())
    assert main(["sample", str(run), "--n", "6", "--out", str(tmp_path / "s1"), "--seed", "7"]) == 0
    assert main(["sample", str(run), "--n", "6", "--out", str(tmp_path / "s2"), "--seed", "7"]) == 0
    assert sorted(p.name for p in (tmp_path / "s1").iterdir()) == [".radgen-output.json", "grid.png"] + [
        f"sample_{i:05d}.png" for i in range(6)
    ]
    assert (tmp_path / "s1/grid.png").read_bytes() == (tmp_path / "s2/grid.png").read_bytes()  # seeded
    assert main(["sample", str(run), "--n", "6", "--out", str(tmp_path / "s1")]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err
    assert main(["reconstruct", str(run), "--n", "4", "--out", str(tmp_path / "rec")]) == 0
    assert len(list((tmp_path / "rec").glob("recon_*.png"))) == 4
    assert main(["sample", str(run), "--n", "2", "--label", "normal", "--out", str(tmp_path / "s3")]) == 2
    assert "trained without labels" in capsys.readouterr().err


def test_conditional_model_trains_and_samples_each_class(tmp_path):
    r = train(
        tiny(tmp_path, "model={name: cvae, widths: [8, 16], latent_dim: 4}", "train.epochs=1", "train.sample_count=8")
    )
    from PIL import Image

    grid = Image.open(r.run_dir / "samples/final.png")
    assert grid.size[1] > grid.size[0] / 3  # two class rows of four
    s = r.model.sample(4, labels=torch.tensor([1]), generator=torch.Generator().manual_seed(0))
    assert s.shape == (4, 1, 28, 28)


def test_curves_figure_and_test_set_elbo_terms(tmp_path):
    from PIL import Image

    from radgen.metrics import elbo_terms

    r = train(tiny(tmp_path, "train.epochs=2"))
    img = Image.open(r.run_dir / "curves.png")
    assert img.size[0] > 600 and img.size[1] > 200  # three panels: kl, recon, total
    test = r.data["test"]
    terms = elbo_terms(r.model, test, batch_size=100, seed=0)
    assert terms["n"] == 624
    assert terms["loss"] == pytest.approx(terms["recon"] + terms["kl"])  # beta = 1, recon_weight = 1
    # reference: the model's own forward on the whole split with the same noise
    g = torch.Generator().manual_seed(0)
    t = r.model.loss_terms(test.images, test.labels, generator=g)
    assert terms["recon"] == pytest.approx(float(t["recon"].mean()), rel=1e-2)
    assert terms["kl"] == pytest.approx(float(t["kl"].mean()), rel=5e-2)


def test_channels_last_and_compiled_forward_train_the_same_model(tmp_path):
    """GPU-readiness switches change speed, not results: the same seed gives the same losses and a plain
    exported module.
    """
    conv = {
        "model": {"name": "gmvae", "latent_dim": 4, "components": 2, "widths": [8, 16]},
        "data": {"name": "pneumoniamnist", "val_from_train": 0.1},
        "train": {
            "epochs": 1,
            "batch_size": 64,
            "limit_train_batches": 3,
            "limit_val_batches": 1,
            "progress_bar": False,
            "sample_every": 0,
        },
        "seed": 0,
        "output_dir": str(tmp_path),
    }
    from torch._dynamo.utils import counters

    plain = train(load_run_config(conv), progress=False)
    graphs = counters["stats"]["unique_graphs"]
    fast = train(
        load_run_config(conv, ["train.channels_last=true", "train.compile=true", "train.compile_backend=aot_eager"]),
        progress=False,
    )
    assert counters["stats"]["unique_graphs"] > graphs, "torch.compile traced nothing"
    assert "forward" not in vars(fast.model), "the compiled forward must not leak into the exported model"
    a, b = read_metrics(plain.run_dir)[0], read_metrics(fast.run_dir)[0]
    assert a["train/loss/total"] == pytest.approx(b["train/loss/total"], rel=1e-4)
    sa, sb = plain.model.state_dict(), fast.model.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.allclose(sa[k].float(), sb[k].float(), atol=1e-4) for k in sa)
    exported, _ = load_exported(fast.run_dir)
    assert not any(
        p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in exported.parameters()
    )


def test_fused_optimizer_is_the_default_and_takes_the_same_steps_as_the_loop(tmp_path):
    """train.fused_optimizer (null: fused where torch allows) is a speed switch: the same seed gives
    the same weights as the per-tensor Adam to float32 rounding; every group of a GAN gets it."""
    from radgen.models.base import build_model, model_config_from_dict
    from radgen.training.config import TrainConfig
    from radgen.training.module import build_optimizers

    fused = train(tiny(tmp_path, "train.epochs=1"), progress=False)
    loop = train(tiny(tmp_path, "train.epochs=1", "train.fused_optimizer=false"), progress=False)
    init = train(tiny(tmp_path, "train.epochs=1", "train.limit_train_batches=1", "train.lr=1e-30"), progress=False)
    sf, sl, si = fused.model.state_dict(), loop.model.state_dict(), init.model.state_dict()
    assert max(float((sf[k] - si[k]).abs().max()) for k in sf) > 1e-3  # 8 Adam steps moved the weights
    for k in sf:
        torch.testing.assert_close(sf[k], sl[k], rtol=1e-4, atol=1e-5)
    gan = build_model(
        model_config_from_dict({"name": "wgan_gp", "base_width": 8}), image_size=28, channels=1, num_classes=2
    )
    opts = build_optimizers(gan, TrainConfig())
    assert len(opts) == 2 and all(o.param_groups[0]["fused"] for o in opts)
    assert not any(o.param_groups[0]["fused"] for o in build_optimizers(gan, TrainConfig(fused_optimizer=False)))
    with pytest.raises(Exception, match="lr_groups"):
        build_optimizers(gan, TrainConfig(lr_groups={"nope": 1e-3}))


def test_toggled_optimizers_with_clipping_count_every_step_in_checkpoints(tmp_path):
    """Two toggled optimizers (WGAN-GP, n_critic 2) with norm clipping, through Lightning's public
    manual-optimisation calls: every optimizer step counts in the global step that the metrics log,
    last.ckpt and the periodic checkpoints record (what resume continues from)."""
    cfg = {
        "model": {"name": "wgan_gp", "latent_dim": 8, "base_width": 8, "n_critic": 2},  # two optimizers, toggled
        "data": {"name": "fashion_mnist"},
        "train": {
            "epochs": 2,
            "batch_size": 16,
            "lr": 1e-3,
            "gradient_clip": 0.05,
            "limit_train_batches": 5,
            "sample_every": 0,
            "checkpoint_every": 1,
            "progress_bar": False,
        },
        "seed": 0,
        "output_dir": str(tmp_path),
    }
    r = train(load_run_config(cfg), progress=False)
    assert [row["step"] for row in read_metrics(r.run_dir)] == [7, 14]  # 5 critic + 2 generator steps per epoch
    for name, (epoch, step) in {"epoch_0000.ckpt": (0, 7), "epoch_0001.ckpt": (1, 14), "last.ckpt": (1, 14)}.items():
        ck = torch.load(r.run_dir / "checkpoints" / name, map_location="cpu", weights_only=False)  # just written
        assert (ck["epoch"], ck["global_step"]) == (epoch, step), name
    assert all(torch.isfinite(p).all() for p in r.model.parameters())


def test_last_checkpoint_is_the_last_epoch_even_when_the_loss_got_worse(tmp_path, monkeypatch):
    """last.ckpt (what resume continues from) is written after every epoch, not only when the
    monitored loss improves (Lightning's own save_last); best.ckpt stays at the best epoch."""
    from radgen.training.module import EngineModule

    def worse_every_epoch(self):
        self.val_summary = self.acc["val"].summary()
        self.log("val/loss", float(self.current_epoch), prog_bar=True)  # epoch 0 is the best

    monkeypatch.setattr(EngineModule, "on_validation_epoch_end", worse_every_epoch)
    r = train(tiny(tmp_path, "train.epochs=3", "train.checkpoint_every=0"), progress=False)
    ck = r.run_dir / "checkpoints"
    last = torch.load(ck / "last.ckpt", map_location="cpu", weights_only=False)  # written by this test
    best = torch.load(ck / "best.ckpt", map_location="cpu", weights_only=False)
    assert (last["epoch"], last["global_step"]) == (2, 24) and (best["epoch"], best["global_step"]) == (0, 8)
    assert (
        r.summary["monitor"] == "val/loss"
        and yaml.safe_load((r.run_dir / "export" / "config.yaml").read_text())["checkpoint"] == "best.ckpt"
    )
    torch.testing.assert_close(
        r.model.state_dict(), {k.removeprefix("model."): v for k, v in best["state_dict"].items()}
    )


def test_bf16_mixed_precision_trains_through_lightnings_precision_plugin(tmp_path, monkeypatch):
    """bf16-mixed (what a GPU run sets; CPU autocast here) goes through Lightning's precision plugin
    and trains the same model as full precision to bf16 accuracy."""
    from radgen.training.module import EngineModule

    seen = []
    start = EngineModule.on_fit_start
    monkeypatch.setattr(
        EngineModule, "on_fit_start", lambda self: (start(self), seen.append(str(self.trainer.precision)))
    )
    full = train(tiny(tmp_path, "train.epochs=1"), progress=False)
    mixed = train(tiny(tmp_path, "train.epochs=1", "train.precision=bf16-mixed"), progress=False)
    assert seen == ["32-true", "bf16-mixed"]
    a, b = read_metrics(full.run_dir)[0], read_metrics(mixed.run_dir)[0]
    assert b["step"] == a["step"] == 8
    assert b["train/loss/total"] == pytest.approx(a["train/loss/total"], rel=0.02) and b[
        "val/loss/total"
    ] == pytest.approx(a["val/loss/total"], rel=0.02)
    assert all(
        p.dtype == torch.float32 for p in mixed.model.parameters()
    )  # autocast computes in bf16, the weights stay float32
    exported, _ = load_exported(mixed.run_dir)
    assert all(p.dtype == torch.float32 for p in exported.parameters())
