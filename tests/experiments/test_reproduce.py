"""radgen reproduce: each design document's experiment end to end at a tiny budget; tables carry both columns."""

from __future__ import annotations

import json

import pytest

from radgen.cli import main


def _table(out):
    return (out / "table.md").read_text()


def test_reproduce_seed003_table5_counts_parameters_exactly_and_times_each_family(tmp_path):
    from radgen.experiments.reproduce import COST_ROWS
    from radgen.models import build_model

    assert main(["reproduce", "seed003-table5", "--quick", "--output-dir", str(tmp_path), "--no-progress"]) == 0
    (out,) = tmp_path.glob("reproduce-seed003-table5-*")
    res = json.loads((out / "results.json").read_text())
    assert len(res["rows"]) == len(COST_ROWS)
    mlp = next(r for r in res["rows"] if r["family"] == "vae")
    m = build_model({"name": "vae", "latent_dim": 64}, image_size=28, channels=1, num_classes=2)
    assert mlp["parameters"] == sum(p.numel() for p in m.parameters()) and mlp["minutes_per_epoch"] > 0
    table = _table(out)
    assert (
        "| parameters radgen | parameters doc |" in table
        and "6,402,880" in table
        and "32,674,945" in table
        and "24 min" in table
    )


@pytest.mark.data_kit  # reaches the kit through the CLI or a subprocess
def test_reproduce_seed000_trials_end_to_end(tmp_path):
    assert (
        main(
            ["reproduce", "seed000-trials", "--epochs", "1", "--quick", "--output-dir", str(tmp_path), "--no-progress"]
        )
        == 0
    )
    (out,) = tmp_path.glob("reproduce-seed000-trials-*")
    table = _table(out)
    assert "| trial | FID 000 | IS 000 | FD_radgen-cnn001" in table and "0.6297" in table and "1.9845" in table
    assert "radgen trained 1 epoch(s) x 2 batches" in table and "(floor " in table  # budget trained; yardstick
    rows = [
        line
        for line in table.splitlines()
        if line.startswith("| 1 |") or line.startswith("| 2 |") or line.startswith("| 3 |")
    ]
    assert len(rows) == 3
    res = json.loads((out / "results.json").read_text())
    assert [r["trial"] for r in res["rows"]] == [1, 2, 3] and all(
        r["features"]["radgen-cnn001"]["distance"] > 0 for r in res["rows"]
    )
    for line in table.splitlines():
        if line.startswith("!["):
            assert (out / line.split("](")[1].rstrip(")")).stat().st_size > 500, line


@pytest.mark.data_kit  # reaches the kit through the CLI or a subprocess
def test_reproduce_seed004_tables_end_to_end(tmp_path):
    assert main(["reproduce", "seed004-tables", "--quick", "--output-dir", str(tmp_path), "--no-progress"]) == 0
    (out,) = tmp_path.glob("reproduce-seed004-tables-*")
    table = _table(out)
    for head in (
        "| model | MMD x1e-4 MNIST radgen | MMD x1e-4 MNIST 004 |",
        "| latent size | MMD x1e-4 radgen | MMD x1e-4 004 |",
        "| metric | VAE radgen | VAE 004 | hybrid radgen | hybrid 004 |",
    ):
        assert head in table
    assert "0.327" in table and "0.818" in table and "-1.568" in table
    res = json.loads((out / "results.json").read_text())
    assert set(res["table3"]) == {"wgan_gp", "vae_gan", "alpha_gan", "gvae"} and set(res["table4"]) == {
        "100",
        "500",
        "1000",
        "2000",
    }
    assert (
        res["table4"]["1000"]["run"] == res["table3"]["gvae"]["mnist"]["run"]
    )  # the z = 1000 run is shared, not retrained
    assert res["table5"]["gvae"]["log_px_iwae"] >= res["table5"]["gvae"]["elbo"]


@pytest.mark.data_kit  # reaches the kit through the CLI or a subprocess
def test_reproduce_seed003_table4_on_the_kits_xrays_at_tiny_sizes(tmp_path):
    """One of Table 4's rows (GMVAE V8: VGG16, transition net, Decoder 2; --versions) through the code path at
    32 px and 1/16 backbone width (every row is a contract-suite case); the nine at 224 px run by the CLI."""
    small = ["data.size=32", "model.encoder_width=0.0625", "model.decoder_hidden=[16]", "model.transition_channels=8"]
    small += ["model.latent_dim=8", "model.components=3", "train.batch_size=32", "train.lr=0.0005"]
    args = [
        "reproduce",
        "seed003-table4",
        "--data",
        "chest_xray_64",
        "--quick",
        "--epochs",
        "1",
        "--versions",
        "gmvae_v8",
    ]
    args += [x for s in small for x in ("--set", s)] + ["--output-dir", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    (out,) = tmp_path.glob("reproduce-seed003-table4-*")
    res = json.loads((out / "results.json").read_text())
    assert [r["version"] for r in res["rows"]] == ["gmvae_v8"] and res["best"] == "gmvae_v8"
    assert res["data"]["name"] == "chest_xray_64" and set(res["data"]["splits"]) == {"train", "val", "test"}
    (v8,) = res["rows"]
    assert v8["pretrained"] == {"encoder": "vgg16", "encoder_weights": "random init"} and v8["freeze_encoder"] is True
    assert (
        v8["parameters"]["decoder_table_weights"] == 172_800
        and v8["parameters"]["decoder_table_with_biases"] == 172_915
    )
    assert v8["parameters"]["paper_encoder"] == 14_714_688 and v8["parameters"]["paper_decoder"] == 172_800
    for r in res["rows"]:  # a frozen backbone computes each image once; later epochs and evaluations reuse it
        assert r["feature_memo"]["computed"] <= sum(res["data"]["splits"].values()) and r["feature_memo"]["reused"] > 0
        assert r["parameters"]["trainable"] == r["parameters"]["total"] - r["parameters"]["encoder"]
        assert r["radgen"]["z"] == 8 and r["table4"]["z"] in (1000, 2000)
    table = _table(out)
    assert "| GMVAE V8 (best) | 8 | 3 | True | True | VGG16 | Decoder 2 |" in table
    assert "14,714,688" in table and "172,800 / 172,915" in table and "14,887,488" in table
    assert "`--set` changed Table 4's settings" in table
    assert "Adam lr 0.0005 (003 Sec. 5: 1e-4; set with --set)" in table  # the lr that ran, recorded in the row
    assert all(r["lr"] == 0.0005 for r in res["rows"])
    best = next(r for r in res["rows"] if r["version"] == res["best"])
    assert f"![{best['label']}: 16 samples](figures/{best['version']}_samples.png)" in table
    assert (out / "figures" / f"{best['version']}_samples.png").stat().st_size > 500


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["seed003-table4", "--versions", "gmvae_v8,v9"],
            "--versions v9: not a version of seed003-table4; valid: fs_gmvae_v1",
        ),
        (["seed002-table1", "--versions", "gmvae_v8"], "--versions applies to seed003-table4; seed002-table1 has no"),
    ],
)
def test_reproduce_refuses_versions_it_does_not_have_before_writing(tmp_path, capsys, args, message):
    out = tmp_path / "runs"
    assert main(["reproduce", *args, "--output-dir", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_reproduce_seed003_table4_says_how_to_run_without_cxr14_images(tmp_path, capsys):
    assert main(["reproduce", "seed003-table4", "--quick", "--output-dir", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radgen: error:") and "--data chest_xray_folder" in err[0]
    assert main(["reproduce", "seed002-table1", "--data", "mnist", "--output-dir", str(tmp_path)]) == 2
