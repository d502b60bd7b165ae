"""Red-team cases (issue 16): --overwrite replaces only what radgen made, nothing is written outside the
output folder, and a report embeds nothing outside the run folders it is given."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
import torch
import yaml

from radgen.cli import main
from radgen.models.base import build_model
from radgen.models.export import save_exported
from radgen.outputs import MARKER, is_radgen_png
from radgen.viz import save_grid


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A minimal run folder: an untrained tiny VAE's export plus the run files a report reads."""
    d = tmp_path_factory.mktemp("run") / "vae-run"
    model = build_model({"name": "vae", "latent_dim": 2, "hidden": [8]}, image_size=8, channels=1, num_classes=2)
    save_exported(model, d / "export", extra={"data": {"class_names": ["a", "b"]}})
    (d / "run.json").write_text(
        '{"model": "vae", "parameters": 10, "losses": "bce", "data": {"name": "x", "image_size": [8, 8], '
        '"splits": {"train": 4}, "class_names": ["a", "b"]}}'
    )
    (d / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "vae"}}))
    save_grid(torch.rand(4, 1, 8, 8), d / "curves.png")
    return d


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize("out", [".", "..", "/", "~"])
def test_overwrite_refuses_the_working_directory_and_its_parents(run, in_tmp, out, capsys):
    before = snapshot(in_tmp)
    assert main(["sample", str(run), "--n", "2", "--out", os.path.expanduser(out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("radgen: error: ") and "never replaces" in err and err.count("\n") == 1
    assert snapshot(in_tmp) == before


@pytest.mark.parametrize("command", ["sample", "reconstruct"])
@pytest.mark.parametrize("target", ["run", "export"])
def test_overwrite_refuses_run_and_export_folders(run, in_tmp, command, target, capsys):
    before = snapshot(run)
    out = run if target == "run" else run / "export"
    assert main([command, str(run), "--n", "2", "--out", str(out), "--overwrite"]) == 2
    assert "run, export or experiment folder" in capsys.readouterr().err
    assert snapshot(run) == before


def test_overwrite_replaces_only_its_own_folder_and_only_what_it_wrote(run, in_tmp, capsys):
    plain = in_tmp / "plain"
    plain.mkdir()
    (plain / "photo.png").write_bytes(b"x")
    assert main(["sample", str(run), "--n", "2", "--out", "plain", "--overwrite"]) == 2  # no marker: older or not ours
    assert "no .radgen-output.json" in capsys.readouterr().err and (plain / "photo.png").read_bytes() == b"x"

    assert main(["sample", str(run), "--n", "3", "--out", "s"]) == 0
    assert sorted(p.name for p in (in_tmp / "s").iterdir()) == sorted(
        [MARKER, "grid.png", "sample_00000.png", "sample_00001.png", "sample_00002.png"]
    )
    assert main(["sample", str(run), "--n", "2", "--out", "s", "--overwrite"]) == 0  # its own folder: replaced
    assert len(list((in_tmp / "s").glob("sample_*.png"))) == 2
    (in_tmp / "s" / "keep.txt").write_text("added by the user")
    assert main(["sample", str(run), "--n", "2", "--out", "s", "--overwrite"]) == 2
    assert "'keep.txt', which radgen did not write" in capsys.readouterr().err
    assert (in_tmp / "s" / "keep.txt").read_text() == "added by the user"
    assert not list(in_tmp.glob(".s.*"))  # no temporary folder left behind


def test_out_naming_a_file_or_a_link_is_a_one_line_error(run, in_tmp, capsys):
    assert main(["sample", str(run), "--n", "2", "--out", "notes.txt", "--overwrite"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["sample", str(run), "--n", "2", "--out", "notes.txt/sub"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    os.symlink(in_tmp, in_tmp / "link")
    assert main(["sample", str(run), "--n", "2", "--out", "link", "--overwrite"]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert (in_tmp / "notes.txt").read_text() == "mine"


def test_latent_and_inspect_figures_replace_only_radgen_pngs(run, in_tmp, capsys):
    (in_tmp / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\nnot radgen's")
    assert main(["latent", str(run), "--plot", "kl", "--out", "notes.txt", "--overwrite"]) == 2
    assert "ending in .png" in capsys.readouterr().err
    assert main(["latent", str(run), "--plot", "traversal", "--out", "photo.png", "--overwrite"]) == 2
    assert "not a figure radgen wrote" in capsys.readouterr().err
    assert (in_tmp / "photo.png").read_bytes().endswith(b"not radgen's")
    assert main(["data", "inspect", "pneumoniamnist", "--grid", "photo.png"]) == 2
    assert main(["latent", str(run), "--plot", "traversal", "--out", "t.png"]) == 0
    assert is_radgen_png(in_tmp / "t.png") and not is_radgen_png(in_tmp / "photo.png")
    assert main(["latent", str(run), "--plot", "traversal", "--out", "t.png", "--overwrite"]) == 0


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "x" * 200])
def test_run_names_cannot_leave_the_output_folder(tmp_path, name, capsys):
    assert main(["train", "tiny", "--name", name, "--output-dir", str(tmp_path / "runs"), "--no-progress"]) == 2
    assert "cannot be part of a file name" in capsys.readouterr().err
    assert not any(tmp_path.rglob("*"))  # nothing made, not even the output folder


def test_files_follow_the_umask(run, in_tmp):
    old = os.umask(0o022)
    try:
        assert main(["sample", str(run), "--n", "2", "--out", "s"]) == 0
        assert main(["report", str(run), "--out", "rep"]) == 0
    finally:
        os.umask(old)
    for p in [in_tmp / "s" / "grid.png", in_tmp / "rep" / "report.html", in_tmp / "rep" / "report.md"]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    assert stat.S_IMODE((in_tmp / "s").stat().st_mode) == 0o755


# --------------------------------------------------------------------------- reports
@pytest.fixture
def hostile(run, tmp_path) -> Path:
    """A copy of the run folder edited by an attacker: a fence-closing config, a link to a local file,
    markup in every JSON field, a ')' in the folder name."""
    import shutil

    d = tmp_path / "evil) run"
    shutil.copytree(run, d)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\nTOP-SECRET")
    with open(d / "config.yaml", "a") as f:
        f.write(f"```\n![leak]({secret})\n```\n<script>alert(1)</script>\n")
    (d / "run.json").write_text(
        '{"model": "vae <img src=x onerror=alert(1)> ![m](' + str(secret) + ')", "parameters": 10, '
        '"losses": "| x | `y` [l](javascript:alert(1))", "data": {"name": "`a` | b", "image_size": [8, 8], '
        '"splits": {"train": 4}, "class_names": ["<b>", "![c](' + str(secret) + ')"]}}'
    )
    (d / "samples").mkdir()
    os.symlink(secret, d / "samples" / "final.png")
    return d


def test_report_embeds_nothing_outside_the_run_folder_and_quotes_its_text(hostile, tmp_path):
    assert main(["report", str(hostile), "--out", str(tmp_path / "rep")]) == 0
    html = (tmp_path / "rep" / "report.html").read_text()
    md = (tmp_path / "rep" / "report.md").read_text()
    secret = base64.b64encode((tmp_path / "secret.png").read_bytes()).decode()
    assert secret not in html and "TOP-SECRET" not in html
    assert "<script>" not in html and "<img src=x" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text inside the config block
    assert html.count("<img ") == 1  # the run's own curves.png (the ')' in the folder name kept it one link)
    curves = base64.b64encode((hostile / "curves.png").read_bytes()).decode()
    assert f'<img src="data:image/png;base64,{curves}"' in html
    assert "samples/final.png" not in md  # a link out of the folder is not even linked


def test_report_refuses_to_replace_files_it_did_not_write(run, tmp_path, capsys):
    out = tmp_path / "docs"
    out.mkdir()
    (out / "report.md").write_text("# my notes\n")
    assert main(["report", str(run), "--out", str(out)]) == 2
    assert "radgen did not write it" in capsys.readouterr().err
    assert (out / "report.md").read_text() == "# my notes\n"
    (out / "report.md").unlink()
    assert main(["report", str(run), "--out", str(out)]) == 0
    assert main(["report", str(run), "--out", str(out)]) == 0  # its own report: replaced


def test_report_on_damaged_json_is_one_line(run, tmp_path, capsys):
    import shutil

    d = tmp_path / "damaged"
    shutil.copytree(run, d)
    (d / "run.json").write_text('{"model": "vae"}')
    assert main(["report", str(d), "--out", str(tmp_path / "r1")]) == 2
    assert "run.json: no field" in capsys.readouterr().err
    (d / "run.json").write_text("{not json")
    assert main(["report", str(d), "--out", str(tmp_path / "r2")]) == 2
    assert "not readable JSON" in capsys.readouterr().err


def test_no_temporary_folder_is_left_by_an_interrupted_sample_and_no_cleanup_deletes_others(
    run, in_tmp, monkeypatch, caplog
):
    """An interrupted sample removes its own temporary folder; folders it did not create in this run, a killed
    run's leftover or a user's folder of the same pattern, are left alone, and a leftover is named."""
    import radgen.sampling

    stale = in_tmp / ".s.999999999.abcd.tmp"  # what a SIGKILLed sample (pid gone) leaves, or a user's folder
    stale.mkdir()
    (stale / "sample_00000.png").write_bytes(b"x")
    other = in_tmp / ".s.notapid.tmp"
    other.mkdir()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(radgen.sampling, "generate", interrupted)
    with caplog.at_level("WARNING", logger="radgen.sampling"):
        assert main(["sample", str(run), "--n", "2", "--out", "s"]) == 130
    assert sorted(p.name for p in in_tmp.iterdir()) == [".s.999999999.abcd.tmp", ".s.notapid.tmp", "notes.txt"]
    assert (stale / "sample_00000.png").read_bytes() == b"x"
    assert ".s.999999999.abcd.tmp" in caplog.text


def test_an_out_made_by_another_process_meanwhile_is_left_alone_and_this_result_is_kept(run, in_tmp, capsys):
    """Red team 2, item 2: ``--out`` made by someone else while this sample ran: refused in one line (exit 2),
    the other output untouched, this command's images kept in a named folder beside it."""
    import radgen.sampling

    real = radgen.sampling.generate

    raced = []

    def racing(*args, **kwargs):
        if not raced:  # the other process commits o while this one samples
            raced.append(1)
            assert main(["sample", str(run), "--n", "2", "--out", "o", "--seed", "2"]) == 0
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(radgen.sampling, "generate", racing)
        code = main(["sample", str(run), "--n", "3", "--out", "o", "--seed", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("radgen: error: o: another process"), err
    theirs = sorted(p.name for p in (in_tmp / "o").iterdir())
    assert theirs == [MARKER, "grid.png", "sample_00000.png", "sample_00001.png"]  # the other's 2 images, whole
    (kept,) = [p for p in in_tmp.iterdir() if p.name.startswith("o.radgen-")]
    assert str(kept.name) in err[0] and len(list(kept.glob("sample_*.png"))) == 3
    assert not [p for p in in_tmp.iterdir() if p.name.endswith(".tmp")]


def test_two_concurrent_samples_to_one_out_one_wins_one_is_refused(run, in_tmp):
    """Two processes racing for one new ``--out``: exactly one commits it, the other exits 2 and keeps its images."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "radgen", "sample", str(run), "--n", "40", "--out", "o"]
    procs = [subprocess.Popen([*cmd, "--seed", str(s)], stderr=subprocess.PIPE, text=True) for s in (1, 2)]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    if codes == [0, 0]:  # one finished before the other started: then the second must have refused at start
        pytest.fail(f"both exited 0: {results}")
    assert codes == [0, 2], results
    loser = next(e for c, e in results if c == 2)
    assert "radgen: error:" in loser and loser.count("\n") == 1
    assert len(list((in_tmp / "o").glob("sample_*.png"))) == 40
    if "another process" in loser:  # raced at the commit: its images are kept
        (kept,) = [p for p in in_tmp.iterdir() if p.name.startswith("o.radgen-")]
        assert len(list(kept.glob("sample_*.png"))) == 40
    else:  # the other had already committed when it started
        assert "already exists" in loser


def test_overwrite_refuses_a_folder_where_a_listed_file_became_a_link_and_deletes_nothing(run, in_tmp, capsys):
    assert main(["sample", str(run), "--n", "3", "--out", "o"]) == 0
    target = in_tmp / "elsewhere.png"
    target.write_bytes(b"not radgen's")
    (in_tmp / "o" / "sample_00001.png").unlink()
    (in_tmp / "o" / "sample_00001.png").symlink_to(target)
    before = sorted(p.name for p in (in_tmp / "o").iterdir())
    assert main(["sample", str(run), "--n", "3", "--out", "o", "--overwrite"]) == 2
    assert "symbolic link 'sample_00001.png'" in capsys.readouterr().err
    assert sorted(p.name for p in (in_tmp / "o").iterdir()) == before and target.read_bytes() == b"not radgen's"


def test_a_failed_overwrite_leaves_the_old_output_whole(run, in_tmp, monkeypatch, capsys):
    import errno

    import radgen.sampling

    assert main(["sample", str(run), "--n", "3", "--out", "o", "--seed", "1"]) == 0
    old = snapshot(in_tmp / "o")

    def refuse(src, dst):
        raise OSError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(radgen.sampling, "rename_noreplace", refuse)
    assert main(["sample", str(run), "--n", "5", "--out", "o", "--seed", "2", "--overwrite"]) == 2
    assert snapshot(in_tmp / "o") == old  # every old file, byte for byte
    assert sorted(p.name for p in in_tmp.iterdir()) == ["notes.txt", "o"]  # no temporary left
    assert capsys.readouterr().err.startswith("radgen: error:")


def test_rename_noreplace_never_replaces(tmp_path):
    from radgen.sampling import rename_noreplace

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()  # empty: os.rename would replace it silently
    with pytest.raises(FileExistsError):
        rename_noreplace(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "a").is_dir()
    rename_noreplace(tmp_path / "a", tmp_path / "c")
    assert (tmp_path / "c").is_dir() and not (tmp_path / "a").exists()


def test_reconstruct_refuses_a_split_that_does_not_exist(run, in_tmp, capsys):
    """Red team 2, item 8: ``radgen reconstruct RUN --split bogus`` reconstructed the validation images."""
    assert main(["reconstruct", str(run), "--split", "bogus", "--out", "r"]) == 2
    err = capsys.readouterr().err
    assert err == "radgen: error: --split 'bogus' is not a split; choose train, val or test\n"
    assert not (in_tmp / "r").exists()


def test_a_full_disk_during_sample_names_the_output_folder_not_the_temporary_one(run, in_tmp, monkeypatch, capsys):
    """Red team 2, item 9: a full disk was reported under the hidden temporary folder's path."""
    import errno

    import radgen.sampling

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(radgen.sampling, "save_pngs", full)
    assert main(["sample", str(run), "--n", "2", "--out", "o"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("radgen: error: o: the disk is full (") and ".tmp" not in err
    assert sorted(p.name for p in in_tmp.iterdir()) == ["notes.txt"]
