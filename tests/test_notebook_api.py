"""The Python API in a notebook (issue 35, deliverable 4): labels by class name, class names from the export,
short reprs, and progress that follows the CLI's rule (bars only on a terminal)."""

from __future__ import annotations

import io
import warnings

import pytest
import torch

import radgen
from radgen.errors import ConfigError
from radgen.models import build_model
from radgen.models.export import save_exported
from radgen.progress import Steps, bar, show_bars
from radgen.training.run import RunResult

NAMES = ["NORMAL", "PNEUMONIA"]


@pytest.fixture
def exported(tmp_path):
    torch.manual_seed(0)
    model = build_model(
        {"name": "cvae", "widths": [8, 16, 32], "latent_dim": 4}, image_size=28, channels=1, num_classes=2
    )
    return save_exported(model, tmp_path / "export", extra={"data": {"name": "pneumoniamnist", "class_names": NAMES}})


def _draw(model, labels, seed=3):
    return model.sample(4, labels=labels, generator=torch.Generator().manual_seed(seed))


def test_sample_takes_class_names_in_any_case_ints_and_lists(exported):
    model = radgen.load(exported)
    assert model.class_names == ("NORMAL", "PNEUMONIA")  # from the export's data.class_names
    by_index = _draw(model, torch.tensor([1]))
    for labels in ("pneumonia", "PNEUMONIA", "Pneumonia", 1, "1"):
        assert torch.equal(_draw(model, labels), by_index), labels
    mixed = _draw(model, ["normal", 1, "PNEUMONIA", 0])
    assert torch.equal(mixed, _draw(model, torch.tensor([0, 1, 1, 0])))
    assert not torch.equal(_draw(model, "normal"), by_index)  # the label reaches the decoder


def test_an_unknown_label_is_one_line_naming_the_valid_ones(exported):
    model = radgen.load(exported)
    with pytest.raises(ConfigError) as err:
        model.sample(2, labels="pneumonai")
    msg = str(err.value)
    assert "\n" not in msg and "'pneumonai'" in msg and "NORMAL, PNEUMONIA" in msg and "0..1" in msg
    with pytest.raises(ConfigError, match=r"label 2 was not trained; valid: 0..1"):
        model.sample(2, labels=2)


def test_the_cli_label_matches_case_the_same_way(exported, tmp_path, capsys):
    from radgen.cli import main

    assert main(["sample", str(exported), "--n", "4", "--label", "pneumonia", "--out", str(tmp_path / "s")]) == 0
    assert main(["sample", str(exported), "--n", "4", "--label", "nope", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radgen: error: unknown label 'nope'") and "NORMAL, PNEUMONIA" in err[0]


def test_reprs_are_a_few_lines_with_sizes_never_tensors(data_dir):
    ds = radgen.load_dataset("pneumoniamnist", val_from_train=0.1, progress=False)
    text = repr(ds)
    lines = text.splitlines()
    assert len(text) < 600 and len(lines) == 2 + len(ds) and "tensor" not in text
    for split in ds:
        counts = ds[split].class_counts()
        assert f"{len(ds[split])} images" in text
        assert ", ".join(f"{k} {v}" for k, v in counts.items()) in text
    one = repr(ds["train"])
    assert "\n" not in one and len(one) < 200 and f"{len(ds['train'])} images, 1x28x28 from uint8" in one
    torch.manual_seed(0)
    model = build_model({"name": "vae", "hidden": [32, 32], "latent_dim": 2}, image_size=28, channels=1, num_classes=2)
    result = RunResult(
        run_dir=data_dir / "runs" / "vae-1",
        model=model,
        summary={"epochs_run": 3, "images_seen": 900, "monitor": "val/loss", "best_loss": 0.123456, "best_epoch": 2},
        data=ds,
    )
    r = repr(result)
    params = sum(p.numel() for p in model.parameters())
    assert len(r.splitlines()) == 4 and len(r) < 400 and "tensor" not in r
    assert f"vae ({params:,} parameters)" in r and "best val/loss 0.1235 at epoch 2" in r and "vae-1" in r


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_only_on_a_terminal_and_never_a_tqdm_warning(monkeypatch):
    notebook = io.StringIO()  # Jupyter's stderr is not a terminal
    monkeypatch.setattr("sys.stderr", notebook)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a TqdmWarning (tqdm.auto's widget without ipywidgets) would raise
        assert not show_bars(True) and list(bar(range(50), desc="x")) == list(range(50))
    assert notebook.getvalue() == ""
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    assert show_bars(True) and not show_bars(False)
    list(bar(range(50), desc="drawn", mininterval=0))
    assert "drawn" in term.getvalue() and "50/50" in term.getvalue()


def test_sampling_in_a_notebook_writes_no_bar(monkeypatch, exported):
    from radgen.sampling import generate

    notebook = io.StringIO()
    monkeypatch.setattr("sys.stderr", notebook)
    x = generate(radgen.load(exported), 8, label=1, seed=0, batch_size=2, progress=True)
    assert x.shape == (8, 1, 28, 28) and notebook.getvalue() == ""


def test_steps_print_a_line_each_off_a_terminal_and_nothing_when_off(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with Steps("pools", 2) as steps:
        steps.step("sampling 10 images from ddpm")
        steps.step("sampling 10 images from cvae")
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("radgen: pools [1/2] sampling 10 images from ddpm (+")
    assert lines[1].startswith("radgen: pools [2/2] sampling 10 images from cvae")
    quiet = io.StringIO()
    monkeypatch.setattr("sys.stderr", quiet)
    with Steps("pools", 2, progress=False) as steps:
        steps.step("a")
    assert quiet.getvalue() == ""
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    with Steps("fits", 3) as steps:
        for k in range(3):
            steps.step(f"arm {k}")
    assert "fits" in term.getvalue() and "3/3" in term.getvalue() and "radgen: fits [" not in term.getvalue()
