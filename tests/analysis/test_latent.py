"""Latent tools: each plot writes an image of the requested grid and decodes/encodes exactly what it says."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from radgen.analysis.latent import interpolate, kl_bars, latent_grid, latent_scatter, slerp, traversal
from radgen.cli import main
from radgen.errors import ConfigError
from radgen.losses import gaussian_kl
from radgen.models import build_model, model_config_from_dict


def vae(z: int, **kw):
    torch.manual_seed(0)
    return build_model(
        model_config_from_dict({"name": "vae", "latent_dim": z, "hidden": [32], **kw}),
        image_size=28,
        channels=1,
        num_classes=2,
    ).eval()


def _spy(model):
    calls = []
    orig = model.decode

    def decode(z, y=None):
        calls.append(z.clone())
        return orig(z, y)

    model.decode = decode
    return calls


def _size(path):
    return Image.open(path).size


def test_traversal_decodes_exactly_the_requested_values(tmp_path):
    m = vae(1)
    calls = _spy(m)
    values = torch.linspace(-5, 5, 11)
    z = traversal(m, tmp_path / "t.png", values=values)
    assert torch.equal(calls[0], z) and torch.equal(z[:, 0], values)
    assert _size(tmp_path / "t.png") == (round((0.75 * 11 + 1.2) * 100), round((0.8 * 1 + 0.6) * 100))  # one row of 11
    m4 = vae(4)
    z4 = traversal(m4, tmp_path / "t4.png", values=[-2.0, 0.0, 2.0], dims=[1, 3])
    expect = torch.zeros(6, 4)
    expect[:3, 1] = torch.tensor([-2.0, 0.0, 2.0])
    expect[3:, 3] = torch.tensor([-2.0, 0.0, 2.0])
    assert torch.equal(z4, expect)
    assert _size(tmp_path / "t4.png") == (round((0.75 * 3 + 1.2) * 100), round((0.8 * 2 + 0.6) * 100))  # 2 rows of 3
    with pytest.raises(ConfigError, match="do not exist"):
        traversal(m4, tmp_path / "x.png", dims=[7])


def test_conditional_traversal_has_a_row_per_class_and_rejects_unknown_labels(tmp_path):
    m = vae(1, conditional="one_hot")
    z = traversal(m, tmp_path / "c.png", values=[0.0, 1.0])
    assert z.shape == (4, 1)  # 2 classes x 2 values
    with pytest.raises(ConfigError, match="0..1"):
        traversal(m, tmp_path / "c2.png", values=[0.0], label=5)


def test_grid_covers_the_square_and_needs_two_dimensions(tmp_path):
    z = latent_grid(vae(2), tmp_path / "g.png", n=5)
    assert z.shape == (25, 2)
    assert z[0].tolist() == [-5.0, 5.0] and z[-1].tolist() == [5.0, -5.0]  # top-left, bottom-right
    assert _size(tmp_path / "g.png") == (round((0.55 * 5 + 1) * 100),) * 2
    with pytest.raises(ConfigError, match="2-dimensional"):
        latent_grid(vae(3), tmp_path / "g3.png")


def test_scatter_uses_mu_in_two_dimensions_and_tsne_above(tmp_path):
    x, y = torch.rand(60, 1, 28, 28), torch.randint(0, 2, (60,))
    m2 = vae(2)
    coords = latent_scatter(m2, x, y, ("a", "b"), tmp_path / "s.png")
    mu, _ = m2.posterior(x)
    np.testing.assert_allclose(coords, mu.detach().numpy(), rtol=1e-6)
    c8 = latent_scatter(vae(8), x, y, ("a", "b"), tmp_path / "t.png", method="tsne")
    assert c8.shape == (60, 2) and Image.open(tmp_path / "t.png").size[0] > 300


def test_interpolation_paths_start_and_end_at_the_codes(tmp_path):
    m = vae(6)
    x = torch.rand(2, 1, 28, 28)
    paths = interpolate(m, tmp_path / "i.png", x=x, y=torch.tensor([0, 1]), steps=7)
    mu, _ = m.posterior(x)
    for p in paths.values():
        assert p.shape == (7, 6)
        torch.testing.assert_close(p[0], mu[0])
        torch.testing.assert_close(p[-1], mu[1])
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    s = slerp(a, b, torch.linspace(0, 1, 5))
    torch.testing.assert_close(s.norm(dim=1), torch.full((5,), 3.0))  # stays on the sphere
    torch.testing.assert_close(s[2], torch.tensor([3 / 2**0.5, 3 / 2**0.5]))


def test_kl_bars_match_the_closed_form_and_count_active_units(tmp_path):
    m = vae(5)
    x = torch.rand(50, 1, 28, 28)
    out = kl_bars(m, x, torch.zeros(50, dtype=torch.long), tmp_path / "k.png")
    mu, lv = m.posterior(x)
    np.testing.assert_allclose(out["kl_per_dim"], gaussian_kl(mu, lv).mean(0).detach().numpy(), rtol=1e-5)
    assert out["active_units"] == int((mu.var(0) > 0.01).sum())
    assert (tmp_path / "k.png").stat().st_size > 1000


def test_gans_get_traversals_and_prior_interpolation_but_not_encoder_plots(tmp_path):
    g = build_model(
        model_config_from_dict({"name": "lsgan", "latent_dim": 8, "base_width": 8}),
        image_size=28,
        channels=1,
        num_classes=2,
    ).eval()
    assert traversal(g, tmp_path / "t.png", values=[-1.0, 1.0], dims=[0]).shape == (2, 8)
    paths = interpolate(g, tmp_path / "i.png", steps=4)
    assert paths["linear"].shape == (4, 8)
    with pytest.raises(ConfigError, match="no encoder"):
        latent_scatter(g, torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), ("a", "b"), tmp_path / "s.png")
    d = build_model(
        model_config_from_dict(
            {
                "name": "ddpm",
                "block_out_channels": [8, 16],
                "attention_resolutions": [],
                "layers_per_block": 1,
                "norm_groups": 8,
            }
        ),
        image_size=28,
        channels=1,
        num_classes=2,
    )
    with pytest.raises(ConfigError, match="no latent space"):
        traversal(d, tmp_path / "d.png")


def test_cli_latent_writes_into_the_run_and_never_overwrites(tmp_path, capsys):
    from radgen.training import load_run_config, train

    r = train(
        load_run_config(
            "tiny",
            [
                "train.progress_bar=false",
                f"output_dir={tmp_path}",
                "train.epochs=1",
                "train.limit_train_batches=4",
                "train.limit_val_batches=1",
            ],
        )
    )
    for plot in ("traversal", "tsne", "interpolate", "kl"):
        assert main(["latent", str(r.run_dir), "--plot", plot, "--n", "200"]) == 0, plot
        assert (r.run_dir / "latent" / f"{plot}.png").is_file()
    assert main(["latent", str(r.run_dir), "--plot", "kl"]) == 2  # exists: no silent overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(["latent", str(r.run_dir), "--plot", "grid"]) == 2  # tiny has z = 8


@pytest.mark.data_kit  # reaches the kit through the CLI or a subprocess
def test_reproduce_seed002_table1_end_to_end_with_both_columns(tmp_path, capsys):
    assert (
        main(
            ["reproduce", "seed002-table1", "--epochs", "1", "--quick", "--output-dir", str(tmp_path), "--no-progress"]
        )
        == 0
    )
    (out,) = tmp_path.glob("reproduce-seed002-table1-*")
    table = (out / "table.md").read_text()
    assert "| BCE radgen | BCE 002 |" in table and "| 64 | 0.1 |" in table and "59.18" in table and "76.23" in table
    rows = [
        line
        for line in table.splitlines()
        if line.startswith("| 1 ") or line.startswith("| 2 ") or line.startswith("| 64 ")
    ]
    assert len(rows) == 7 and all(len(r.split("|")) == 10 for r in rows)
    for fig in ("fig3_z1_traversal.png", "fig4_z2_grid.png", "fig5_z2_scatter.png", "fig5_z64_tsne.png"):
        assert (out / "figures" / fig).stat().st_size > 1000, fig
    assert 'src="data:image/png;base64,' in (out / "table.html").read_text()
