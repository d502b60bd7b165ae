"""Red-team cases (issue 16, deliverables 3, 5, 6): each traceback of the issue is a one-line error naming the
file or value and the fix; a failing new run leaves no folder; --resume applies or refuses overrides.
The last test is the property test: random CLI options on randomly damaged run folders."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radgen.cli import main
from radgen.errors import OutputError
from radgen.io import write_text
from radgen.models.base import build_model
from radgen.models.export import save_exported
from radgen.training import load_run_config, train
from radgen.viz import save_grid


def one_line_error(capsys, argv: list[str], *needles: str) -> str:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert err and err[-1].startswith("radgen: error: ") and not any("Traceback" in line for line in err)
    for needle in needles:
        assert needle in err[-1], err[-1]
    return err[-1]


def make_run(d: Path) -> Path:
    """A minimal run folder (no training): a tiny VAE's export and the files a report reads."""
    model = build_model({"name": "vae", "latent_dim": 2, "hidden": [8]}, image_size=8, channels=1, num_classes=2)
    save_exported(model, d / "export", extra={"data": {"class_names": ["a", "b"]}})
    (d / "run.json").write_text(
        json.dumps(
            {
                "model": "vae",
                "parameters": 10,
                "losses": "bce",
                "data": {"name": "x", "image_size": [8, 8], "splits": {"train": 4}, "class_names": ["a", "b"]},
            }
        )
    )
    (d / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "vae"}, "train": {"batch_size": 2}}))
    (d / "metrics.jsonl").write_text('{"epoch": 1, "step": 2, "seconds": 0.1}\n')  # the report estimates a budget
    save_grid(torch.rand(4, 1, 8, 8), d / "curves.png")
    return d


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    cfg = load_run_config(
        "tiny",
        [
            f"output_dir={tmp_path_factory.mktemp('runs')}",
            "train.epochs=1",
            "train.limit_train_batches=2",
            "train.limit_val_batches=1",
            "train.progress_bar=false",
            "train.sample_every=0",
        ],
    )
    return train(cfg).run_dir


def test_damaged_files_are_one_line_errors(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    (run / "config.yaml").unlink()
    one_line_error(capsys, ["evaluate", run, "--n", "20"], "no config.yaml", "--real")
    one_line_error(capsys, ["reconstruct", run, "--n", "2", "--out", tmp_path / "r"], "no config.yaml", "--data")
    one_line_error(capsys, ["evaluate", run, "--n", "0"], "--n 0 must be at least 10")
    one_line_error(capsys, ["evaluate", run, "--extractor-seeds", "0"], "--extractor-seeds 0 must be at least 1")
    one_line_error(capsys, ["latent", run, "--plot", "kl", "--n", "0"], "--n 0 must be at least 2")
    one_line_error(capsys, ["sample", run, "--batch-size", "0", "--out", tmp_path / "s"], "--batch-size 0")
    w = run / "export" / "weights.safetensors"
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    one_line_error(capsys, ["sample", run, "--out", tmp_path / "s"], "weights.safetensors: damaged or truncated")
    w.write_bytes(data)
    cfg = run / "export" / "config.yaml"
    cfg.write_text("format: !!python/object/apply:os.system ['echo pwned']\n")
    one_line_error(capsys, ["sample", run, "--out", tmp_path / "s"], "export/config.yaml: refused", "!!python/")
    assert not (tmp_path / "s").exists()


@pytest.mark.data_kit  # reaches the kit through the CLI or a subprocess
def test_bad_model_combination_and_short_csv_rows(tmp_path, capsys):
    one_line_error(
        capsys,
        ["train", "demo_cvae", "--set", "model.prior=learned", "--set", "model.conditional=none", "--output-dir",
         tmp_path / "runs", "--set", "data.name=pneumoniamnist", "--set", "data.size=28"],
        "prior='learned' needs a conditional model",
    )  # fmt: skip
    assert not list((tmp_path / "runs").glob("*"))  # refused before the run folder existed
    d = tmp_path / "cxr"
    d.mkdir()
    (d / "Data_Entry_2017.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position\n"
        "a.png,Mass,0,1,50,M,PA\nb.png,Mass\n"
    )
    one_line_error(capsys, ["data", "inspect", "cxr14", "--path", d], "Data_Entry_2017.csv", "line 3 is short")


def test_full_disk_and_read_only_folders_name_the_path(tmp_path, monkeypatch):
    target = tmp_path / "out" / "x.json"

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1024 vs 998")

    with pytest.raises(OutputError, match=r"x.json: the disk is full \(.* MiB free under"):
        with __import__("radgen.io", fromlist=["atomic_path"]).atomic_path(target) as tmp:
            full(tmp)  # what torch.save raises when the disk fills mid-write
    assert not list((tmp_path / "out").iterdir())  # no temporary file left

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    with pytest.raises(OutputError, match=r"x.json: cannot write there \(Read-only file system\); choose"):
        write_text(target, "x")


def test_damaged_last_checkpoint_names_the_periodic_ones(trained, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    before = (run / "metrics.jsonl").read_bytes()
    one_line_error(
        capsys, ["train", "--resume", run, "--no-progress"], "last.ckpt: damaged or truncated", "epoch_0000.ckpt"
    )
    assert (run / "metrics.jsonl").read_bytes() == before  # nothing touched


def test_resume_applies_and_records_train_overrides_and_refuses_the_rest(trained, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    one_line_error(capsys, ["train", "--resume", run, "--set", "model.latent_dim=3"], "--resume cannot change model")
    one_line_error(capsys, ["train", "--resume", run, "--set", "train.batch_size=7"], "train.batch_size (128 -> 7)")
    argv = ["train", "--resume", str(run), "--set", "train.epochs=2", "--set", "train.lr=0.0005", "--no-progress"]
    assert main(argv) == 0
    (info,) = [json.loads(p.read_text()) for p in run.glob("run-resume-*.json")]
    assert info["overrides_applied"] == {"train.epochs": [1, 2], "train.lr": [0.001, 0.0005]}
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["lr"] == 0.0005
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == 0.0005  # applied


def test_a_new_run_that_fails_before_a_checkpoint_leaves_no_folder(tmp_path, monkeypatch):
    from radgen.models.vae import MLPVAE
    from radgen.training.module import NonFiniteLossError

    original = MLPVAE.loss_terms

    def poisoned(self, *a, **k):
        t = original(self, *a, **k)
        t["kl"] = t["kl"] * float("nan")
        return t

    monkeypatch.setattr(MLPVAE, "loss_terms", poisoned)
    cfg = load_run_config("tiny", [f"output_dir={tmp_path}", "train.epochs=1", "train.progress_bar=false"])
    with pytest.raises(NonFiniteLossError, match="no checkpoint had been written, so the unfinished run folder"):
        train(cfg)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- the property test
DAMAGES = (
    "truncate_weights",
    "python_tag_export",
    "no_config",
    "bad_run_json",
    "wrong_types_run_json",
    "link_curves_outside",
    "folder_for_weights",
    "markup_everywhere",
)


def damage(run: Path, kind: str, outside: Path) -> None:
    if kind == "truncate_weights":
        w = run / "export/weights.safetensors"
        if w.is_file():  # (folder_for_weights may have replaced it already)
            w.write_bytes(w.read_bytes()[:100])
    elif kind == "python_tag_export":
        (run / "export/config.yaml").write_text("model: !!python/name:os.system\n")
    elif kind == "no_config":
        (run / "config.yaml").unlink(missing_ok=True)
    elif kind == "bad_run_json":
        (run / "run.json").write_text("{truncated")
    elif kind == "wrong_types_run_json":
        (run / "run.json").write_text('{"model": 1, "parameters": "many", "losses": null, "data": []}')
    elif kind == "link_curves_outside":
        (run / "curves.png").unlink(missing_ok=True)
        os.symlink(outside, run / "curves.png")
    elif kind == "folder_for_weights":
        w = run / "export/weights.safetensors"
        w.unlink(missing_ok=True)
        w.mkdir()
    elif kind == "markup_everywhere":
        with open(run / "config.yaml", "a") as f:
            f.write(f"```\n![x]({outside})\n<script>1</script>\n")


def snapshot(root: Path, skip: Path | None) -> dict[str, object]:
    out: dict[str, object] = {}
    for p in sorted(root.rglob("*")):
        # the output itself, what is inside it, and the folders that hold it (radgen latent makes RUN/latent/)
        if skip is not None and (p == skip or skip in p.parents or p in skip.parents):
            continue
        rel = str(p.relative_to(root))
        out[rel] = os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
    return out


OUTS = ("new", "cwd", "parent", "run", "export", "file", "full_folder", "none")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    command=st.sampled_from(("sample", "reconstruct", "latent", "report")),
    damages=st.sets(st.sampled_from(DAMAGES), max_size=3),
    out=st.sampled_from(OUTS),
    overwrite=st.booleans(),
    n=st.integers(-2, 5),
    batch=st.integers(-1, 3),
    plot=st.sampled_from(("traversal", "grid", "kl", "scatter", "bogus")),
    label=st.one_of(st.none(), st.text(max_size=4)),
)
def test_property_no_traceback_and_nothing_outside_the_output_changes(
    tmp_path_factory, monkeypatch, capsys, command, damages, out, overwrite, n, batch, plot, label
):
    world = tmp_path_factory.mktemp("world")
    outside = world / "secret.txt"
    outside.write_text("do not touch or embed")
    run = make_run(world / "run")
    for kind in sorted(damages):
        damage(run, kind, outside)
    cwd = world / "cwd"
    cwd.mkdir()
    (cwd / "notes.txt").write_text("mine")
    (world / "full").mkdir()
    (world / "full" / "photo.png").write_bytes(b"x")
    monkeypatch.chdir(cwd)
    target = {
        "new": world / "fresh",
        "cwd": Path("."),
        "parent": Path(".."),
        "run": run,
        "export": run / "export",
        "file": cwd / "notes.txt",
        "full_folder": world / "full",
        "none": None,
    }[out]
    if command == "latent" and target is not None and out == "new":
        target = world / "fresh.png"
    argv = [command, str(run)]
    if command == "sample":
        argv += ["--n", str(n), "--batch-size", str(batch)] + (["--label", label] if label is not None else [])
    elif command == "reconstruct":
        argv += ["--n", str(n)]
    elif command == "latent":
        argv += ["--plot", plot, "--n", str(n)]
    if target is None and command in ("sample", "reconstruct"):
        target = world / "fresh"
    if target is not None:
        argv += ["--out", str(target)]
    if overwrite and command != "report":
        argv.append("--overwrite")
    written = (
        target if target is not None else (run / "latent" / f"{plot}.png" if command == "latent" else run)
    ).resolve()
    if command != "report" and out not in ("new", "none"):
        written = None  # refused whatever --overwrite says (the cwd, its parent, a run, a file...): nothing changes
    before = snapshot(world, written)
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse rejecting a value (e.g. --plot bogus) exits 2 with its usage line
        rc = exc.code
    err = capsys.readouterr().err
    assert rc in (0, 2), (argv, err)
    assert "Traceback" not in err, (argv, err)
    if rc == 2 and "usage:" not in err:
        assert err.strip().splitlines()[-1].startswith("radgen: error: "), (argv, err)
    assert snapshot(world, written) == before, argv
    for html in world.rglob("report.html"):
        assert "do not touch" not in html.read_text() and "<script>" not in html.read_text()


@settings(max_examples=300, deadline=None)
@given(names=st.lists(st.text(min_size=0, max_size=40), min_size=1, max_size=8))
def test_property_any_class_names_map_to_distinct_folders_inside_the_output(tmp_path_factory, names):
    """Whatever class names a data file holds (separators, ``..``, NUL, dots, case repeats, empty), each maps to
    one folder name that ``check_name`` accepts, distinct from the others on a case-insensitive file system, and
    that resolves inside the output folder."""
    from radgen.outputs import check_inside, check_name, safe_folder_names

    root = tmp_path_factory.mktemp("out")
    folders = safe_folder_names(names)
    assert len(folders) == len(names)
    assert len({f.lower() for f in folders}) == len(folders)
    for name, folder in zip(names, folders):
        assert check_name(folder, "folder") == folder
        assert check_inside(root, root / folder) == root / folder
        if check_name_ok(name):
            assert folder == name or folder.startswith(name + "_")  # kept, or made distinct from an earlier one


def check_name_ok(name: str) -> bool:
    from radgen.outputs import check_name

    try:
        check_name(name, "x")
    except Exception:
        return False
    return True


def test_resume_refuses_a_model_change_by_name_and_an_export_folder(tmp_path, capsys):
    """Red team 2, item 9: ``--resume RUN --set model.name=ddpm`` said "unknown config key 'model.beta'", and
    ``--resume RUN/export`` "unknown config key 'checkpoint'"."""
    from radgen.cli import main

    run = tmp_path / "run"
    (run / "export").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "vae"}, "data": {"name": "mnist"}}))
    (run / "run.json").write_text("{}")
    (run / "export" / "config.yaml").write_text("model: {name: vae}\n")
    (run / "export" / "weights.safetensors").write_bytes(b"")
    assert main(["train", "--resume", str(run), "--set", "model.name=ddpm"]) == 2
    assert capsys.readouterr().err.startswith("radgen: error: --resume cannot change model.name")
    assert main(["train", "--resume", str(run / "export")]) == 2
    err = capsys.readouterr().err
    assert "is a run's export folder" in err and f"radgen train --resume {run}" in err


def _kaggle_npz(path, *, invert: bool = False, flip: bool = False, move: int = 0) -> None:
    """A small Kaggle-layout .npz; ``invert``/``flip``/``move`` rewrite it as the red team did."""
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
    labels = np.array([0, 1] * 30, dtype=np.uint8)
    files = np.array([f"train/{'NORMAL' if y == 0 else 'PNEUMONIA'}/person{i}_x.jpeg" for i, y in enumerate(labels)])
    if invert:
        imgs = 255 - imgs
    if flip:
        labels = 1 - labels
    train, val = slice(move, 60), slice(0, move)
    arrays = {"train_images": imgs[train], "train_labels": labels[train], "train_files": files[train]}
    arrays |= {"val_images": imgs[val], "val_labels": labels[val], "val_files": files[val]}
    held = rng.integers(0, 256, (120, 28, 28), dtype=np.uint8)  # unseen images: the release's audit calibrates on them
    held_files = np.array(
        [f"test/{'NORMAL' if i % 2 == 0 else 'PNEUMONIA'}/person{1000 + i}_x.jpeg" for i in range(120)]
    )
    arrays |= {"test_images": held, "test_labels": np.array([0, 1] * 60, dtype=np.uint8), "test_files": held_files}
    np.savez(path, **arrays)


@pytest.mark.parametrize("change", ["content", "membership"])
def test_data_changed_under_a_run_is_refused_on_resume_and_release_unless_allowed(tmp_path, capsys, change):
    """Red team 2, item 4: after the run's training .npz was rewritten (inverted images, flipped labels, images
    moved between splits), --resume went on without a word and the release paired the new split with the old
    manifest."""
    from radgen.cli import main

    data = tmp_path / "k.npz"
    _kaggle_npz(data)
    base = ["--set", "data.name=chest_xray_full_64", "--set", f"data.path={data}", "--set", "data.val_from_train=null"]
    base += ["--set", "train.epochs=1", "--set", "train.sample_every=0", "--set", "train.batch_size=16"]
    assert (
        main(["train", "tiny", *base, "--set", "model.conditional=one_hot", "--output-dir", str(tmp_path / "r")]) == 0
    )
    (run,) = list((tmp_path / "r").iterdir())
    _kaggle_npz(data, invert=True, flip=True) if change == "content" else _kaggle_npz(data, move=7)
    capsys.readouterr()

    assert main(["train", "--resume", str(run), "--set", "train.epochs=2", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"radgen: error: {run}: the training data changed since the run was trained")
    assert ("pixels or labels differ" in err) if change == "content" else ("60 -> 53 images (7 left the split" in err)
    assert "--allow-changed-data" in err
    assert main(["evaluate", str(run), "--n", "64"]) == 2  # evaluate compares too, before any work
    assert "the training data changed since the run was trained" in capsys.readouterr().err
    from radgen.data import DataConfig, load_dataset
    from radgen.errors import DataError
    from radgen.experiments.augment import check_generator_data

    dcfg = DataConfig(name="chest_xray_full_64", path=str(data), val_from_train=None, cache=False)
    splits = load_dataset(dcfg)
    with pytest.raises(DataError, match="the training data changed"):  # augment, for a generator on this data
        check_generator_data(run, dcfg, splits, allow=False)
    assert check_generator_data(run, dcfg, splits, allow=True)["content_changed"]
    assert check_generator_data(run, DataConfig(name="pneumoniamnist"), splits, allow=False) is None  # other data
    rel = ["release", str(run), "--n", "20", "--out", str(tmp_path / "rel"), "--no-progress", "--force"]
    assert main(rel) == 2 and not (tmp_path / "rel").exists()
    assert "the training data changed" in capsys.readouterr().err

    assert (
        main(["train", "--resume", str(run), "--set", "train.epochs=2", "--no-progress", "--allow-changed-data"]) == 0
    )
    (record,) = list(run.glob("run-resume-*.json"))
    allowed = json.loads(record.read_text())["overrides_applied"]["data (allowed to change)"]
    assert allowed["content_changed"] and allowed["left"] == (0 if change == "content" else 7)
    assert main([*rel, "--allow-changed-data"]) == 0
    sheet = json.loads((tmp_path / "rel" / "datasheet.json").read_text())
    assert sheet["real_data"]["changed_since_training"]["left"] == (0 if change == "content" else 7)
    assert "changed since the run was trained" in (tmp_path / "rel" / "DATASHEET.md").read_text()


_NPZ_KEYS = [f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels")]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(["x.npz", "x.png", "x.dcm", "v.nii.gz", "Data_Entry_2017.csv", "x-idx3-ubyte", "folder"]),
    payload=st.binary(max_size=256),
    arrays=st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {
                "keys": st.lists(st.sampled_from(_NPZ_KEYS), unique=True, min_size=1),
                "shape": st.lists(st.integers(0, 6), min_size=1, max_size=4),
                "dtype": st.sampled_from(["uint8", "int16", "float32", "float64", "bool"]),
                "label": st.sampled_from([0, 1, 2, 7, 255, -1, 0.5, float("nan")]),
            }
        ),
    ),
)
def test_property_any_data_file_given_by_path_loads_or_fails_in_one_line(
    tmp_path_factory, capsys, monkeypatch, name, payload, arrays
):
    """Random bytes, or an .npz of random keys, shapes, dtypes and labels, given by path to ``radgen data
    inspect``: exit 0, or exit 2 with one ``radgen: error:`` line; never a traceback, never a write beside it."""
    from radgen.cli import main

    world = tmp_path_factory.mktemp("files")
    monkeypatch.chdir(world)
    monkeypatch.setenv("RADGEN_CACHE_DIR", str(world / "cache"))
    path = world / name
    if name == "folder":
        (path / "a").mkdir(parents=True)
        (path / "a" / "x.png").write_bytes(payload)
    elif arrays is not None and name == "x.npz":
        shape = tuple(arrays["shape"])
        content = {}
        for k in arrays["keys"]:
            if k.endswith("labels"):
                content[k] = np.full(shape[:1] or (1,), arrays["label"], dtype=np.float64)
            else:
                content[k] = np.zeros(shape, dtype=arrays["dtype"])
        np.savez(path, **content)
    else:
        path.write_bytes(payload)
    before = {p.name for p in world.iterdir()}
    code = main(["data", "inspect", str(path), "--no-cache"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code in (0, 2), err
    if code == 2:
        assert err and err[-1].startswith("radgen: error:"), err
    assert not any("Traceback" in line for line in err)
    assert {p.name for p in world.iterdir()} <= before | {"cache"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    flags=st.lists(st.booleans(), min_size=2, max_size=4),
    existing=st.booleans(),
    stagger=st.lists(st.floats(0, 0.02), min_size=4, max_size=4),
)
def test_property_concurrent_writers_leave_one_whole_output_and_lose_no_result(
    tmp_path_factory, flags, existing, stagger
):
    """Writers racing for one ``--out`` (each with or without --overwrite, onto a new folder or one radgen made):
    every writer either commits or fails with a RadgenError; the final folder is exactly one writer's whole
    output; a writer refused for a race keeps its images where its error says; nothing else appears."""
    import threading
    import time

    from radgen.errors import OutputRaceError, RadgenError
    from radgen.models import load_exported
    from radgen.outputs import read_marker
    from radgen.sampling import write_samples

    world = tmp_path_factory.mktemp("race")
    model, _ = load_exported(make_run(world / "run"))
    out = world / "o"
    if existing:
        write_samples(model, out, n=2, seed=99)
    results: list = [None] * len(flags)

    def writer(i: int, overwrite: bool) -> None:
        time.sleep(stagger[i])
        try:
            write_samples(model, out, n=3 + i, seed=i, overwrite=overwrite)
            results[i] = "ok"
        except RadgenError as exc:
            results[i] = exc

    threads = [threading.Thread(target=writer, args=(i, f)) for i, f in enumerate(flags)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None for r in results), results
    listed = read_marker(out)
    assert listed is not None and sorted(listed) == sorted(
        p.name for p in out.iterdir() if p.name != ".radgen-output.json"
    )
    n_images = len([n for n in listed if n.startswith("sample_")])
    assert n_images in {3 + i for i, r in enumerate(results) if r == "ok"} | ({2} if existing else set())
    if not existing:
        assert any(r == "ok" for r in results)  # someone committed the new folder
    for r in results:
        if isinstance(r, OutputRaceError):
            assert Path(r.kept).is_dir() and list(Path(r.kept).glob("sample_*.png"))
    kept = {Path(r.kept).name for r in results if isinstance(r, OutputRaceError)}
    assert {p.name for p in world.iterdir()} <= {"run", "o"} | kept


@pytest.mark.parametrize("other", ["moved it aside", "committed its own"])
def test_an_overwrite_that_loses_the_race_in_its_last_step_keeps_both_results(tmp_path, monkeypatch, other):
    """The window the property test above once hit: between the last check and the move aside, another
    ``--overwrite`` writer moved the old folder away (the move failed with FileNotFoundError, a traceback) or put
    its own output in place (which would have been moved aside and deleted). Both are now refused as a race, this
    command's images kept beside ``--out``, the other writer's output left where it is."""
    import radgen.sampling as sampling
    from radgen.errors import OutputRaceError
    from radgen.models import load_exported
    from radgen.outputs import read_marker
    from radgen.sampling import write_samples

    model, _ = load_exported(make_run(tmp_path / "run"))
    out = tmp_path / "o"
    write_samples(model, out, n=2, seed=99)
    other_out = tmp_path / "other"
    write_samples(model, other_out, n=5, seed=5)  # the other writer's finished output
    check, calls = sampling.check_replaceable, []

    def racing_check(path):  # the second call is the commit's last check
        result = check(path)
        calls.append(path)
        if len(calls) < 2:
            return result
        shutil.rmtree(out)  # the other writer moved the old folder aside and deleted it ...
        if other == "committed its own":
            other_out.rename(out)  # ... and moved its own in
        return result

    monkeypatch.setattr(sampling, "check_replaceable", racing_check)
    with pytest.raises(OutputRaceError, match="another process made or changed it") as info:
        write_samples(model, out, n=3, seed=1, overwrite=True)
    kept = Path(info.value.kept)
    assert len(list(kept.glob("sample_*.png"))) == 3  # this command's result, kept
    if other == "committed its own":
        listed = read_marker(out)
        assert len([n for n in listed if n.startswith("sample_")]) == 5  # the other's output, whole, in place
    else:
        assert not out.exists()
    # nothing else: no folder moved aside and left behind
    assert {p.name for p in tmp_path.iterdir()} == {"run", kept.name} | (
        {"o"} if other == "committed its own" else {"other"}
    )
