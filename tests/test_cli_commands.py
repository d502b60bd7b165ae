"""The CLI as a package (issue 31, move 4): data options generated from ``DataConfig``'s fields, and every command
calling its typed function in ``radgen.api``."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from pathlib import Path

import pytest

import radgen.api
from radgen.cli import COMMANDS, build_parser, main
from radgen.cli.options import add_dataclass_options, dataclass_from_args
from radgen.data import DataConfig


def test_every_data_field_but_the_name_is_an_option_and_reaches_the_config():
    args = build_parser().parse_args(
        [
            "data", "inspect", "pneumoniamnist", "--path", "p.npz", "--data-dir", "root", "--size", "32",
            "--channels", "3", "--crop", "center", "--equalize", "histogram", "--normalize", "imagenet",
            "--split-ratio", "0.8", "--val-from-train", "0.1", "--seed", "7", "--keep-classes", "NORMAL,PNEUMONIA",
            "--on-bad-file", "error", "--no-cache", "--storage", "mmap", "--max-memory-gb", "1.5",
            "-o", "window=lung", "--option", "label_mode=single",
        ]
    )  # fmt: skip
    cfg = dataclass_from_args(DataConfig, args, name="pneumoniamnist")
    expected = DataConfig(
        name="pneumoniamnist", path="p.npz", data_dir="root", size=32, channels=3, crop="center",
        equalize="histogram", normalize="imagenet", split_ratio=0.8, val_from_train=0.1, seed=7,
        keep_classes=["NORMAL", "PNEUMONIA"], on_bad_file="error", cache=False, storage="mmap", max_memory_gb=1.5,
        options={"window": "lung", "label_mode": "single"},
    )  # fmt: skip
    assert cfg == expected
    given = {f.name for f in dataclasses.fields(DataConfig)} - {"name"}
    changed = {f.name for f in dataclasses.fields(DataConfig) if getattr(cfg, f.name) != f.default}
    assert given - {"options"} <= changed  # every field was set from the command line
    defaults = dataclass_from_args(DataConfig, build_parser().parse_args(["data", "inspect"]), name="x")
    assert defaults == DataConfig(name="x")  # no option given: the dataclass's defaults


def test_bad_choices_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["classify", "--channels", "2"])
    assert "invalid choice: 2" in capsys.readouterr().err


def test_a_new_data_field_reaches_the_cli_with_no_edit():
    @dataclasses.dataclass
    class Extended(DataConfig):
        gamma: float | None = dataclasses.field(default=None, metadata={"help": "gamma correction exponent"})
        invert: bool = False  # no help: the option says the field and its default
        modality: str = "cxr"

    p = argparse.ArgumentParser(prog="x")
    add_dataclass_options(p, Extended, skip=("name",))
    text = p.format_help()
    assert "--gamma GAMMA" in text and "gamma correction exponent" in text
    assert "--invert" in text and "invert (default False)" in text and "--modality MODALITY" in text
    cfg = dataclass_from_args(Extended, p.parse_args(["--gamma", "0.5", "--invert", "--size", "64"]), name="n")
    assert (cfg.gamma, cfg.invert, cfg.modality, cfg.size, cfg.name) == (0.5, True, "cxr", 64, "n")


def test_a_field_with_no_command_line_form_is_refused_when_the_parser_is_built():
    @dataclasses.dataclass
    class Odd:
        pairs: tuple[int, int] = (0, 0)

    with pytest.raises(TypeError, match="pairs: .* has no command-line form"):
        add_dataclass_options(argparse.ArgumentParser(), Odd)


API_OF = {
    "list": "catalog",
    "data": "inspect_data",
    "train": "train",
    "sample": "sample",
    "reconstruct": "reconstruct",
    "evaluate": "evaluate",
    "classify": "classify",
    "augment": "augment",
    "demo": "demo",
    "report": "report",
    "latent": "latent",
    "reproduce": "reproduce",
    "release": "release",
    "export": "export",
    "version": "versions",
}


def test_every_command_has_a_typed_api_function():
    assert [name for name, _ in COMMANDS] == list(API_OF)
    text = build_parser().format_help()
    assert all(f"    {name}" in text for name in API_OF)
    for fn in API_OF.values():
        sig = inspect.signature(getattr(radgen.api, fn))
        kinds = {p.kind for p in sig.parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds, fn
        missing = [p.name for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty]
        assert missing == [], (fn, missing)
        assert getattr(radgen.api, fn).__doc__, fn


CALLS = [  # (argv, api function, keywords it must receive, what the fake returns)
    (
        ["sample", "RUN", "--n", "3", "--label", "pneumonia", "--out", "o", "--steps", "5"],
        "sample",
        {"run_dir": "RUN", "out": "o", "n": 3, "label": "pneumonia", "steps": 5, "sampler": None},
        Path("o"),
    ),
    (
        ["reconstruct", "RUN", "--out", "o", "--split", "val", "--n", "4"],
        "reconstruct",
        {"out": "o", "split": "val", "n": 4},
        Path("o"),
    ),
    (["report", "A", "B", "--out", "o"], "report", {"out": "o"}, (Path("o/report.html"), Path("o/report.md"))),
    (
        ["latent", "RUN", "--plot", "traversal", "--dims", "0,2", "--label", "NORMAL"],
        "latent",
        {"dims": [0, 2], "label": "NORMAL"},
        (Path("RUN/latent/traversal.png"), None),
    ),
    (
        ["demo", "--quick", "--seeds", "3", "--no-progress"],
        "demo",
        {"quick": True, "seeds": 3, "progress": False, "budget": "demo"},
        Path("nowhere"),
    ),
    (
        ["reproduce", "seed003-table5", "--versions", "a,b", "--quick"],
        "reproduce",
        {"versions": ("a", "b"), "quick": True, "progress": True},
        (Path("o"), {"markdown": "table", "seconds": 1.0}),
    ),
    (
        ["release", "RUN", "--n", "8", "--out", "o", "--format", "png,dicom", "--splits", "0.5,0.25,0.25"],
        "release",
        {"run_dir": "RUN", "n": 8, "formats": ("png", "dicom"), "splits": (0.5, 0.25, 0.25), "progress": True},
        (Path("o"), {"n": 8, "formats": ["png"], "memorization_audit": {"fraction_flagged": 0, "nominal_rate": 0.01}}),
    ),
]


@pytest.mark.parametrize("argv,fn,expected,returned", CALLS, ids=[c[1] for c in CALLS])
def test_the_command_calls_its_api_function(monkeypatch, capsys, argv, fn, expected, returned):
    seen: dict = {}

    def fake(*args, **kwargs):
        seen.update(kwargs, args=args)
        return returned

    fake.__signature__ = inspect.signature(getattr(radgen.api, fn))  # the real function's keywords
    monkeypatch.setattr(radgen.api, fn, fake)
    assert main(argv) == 0
    assert {k: seen.get(k) for k in expected} == expected
    assert seen["args"] == () and set(seen) - {"args"} <= set(inspect.signature(fake).parameters)


def test_version_and_list_go_through_the_api(capsys):
    assert main(["version"]) == 0
    v = radgen.api.versions()
    assert capsys.readouterr().out.strip() == f"radgen {v['radgen']} (torch {v['torch']}, python {v['python']})"
    assert main(["list", "features"]) == 0
    out = capsys.readouterr().out
    assert all(r["name"] in out for r in radgen.api.catalog("features"))
