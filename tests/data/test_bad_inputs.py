"""Tiny generated bad files: each gets a one-line error naming the file and the problem."""

from __future__ import annotations

import gzip
import shutil
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radgen.cli import main
from radgen.data import load_dataset
from radgen.data.idx import read_idx
from radgen.errors import BadFileError, ConfigError, DataError
from tests.conftest import require_data_kit

DATA = require_data_kit()

REAL_JPEG = sorted((DATA / "chest_xray_sample/train/NORMAL").glob("*.jpeg"))[0]


def _png(path: Path, value: int = 128, size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, np.uint8)).save(path)
    return path


def _kaggle_tree(root: Path, n: int = 3) -> Path:
    for split in ("train", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            for i in range(n):
                _png(
                    root / split / cls / f"person{i}{cls[0]}_bacteria_{i}.png"
                    if cls == "PNEUMONIA"
                    else root / split / cls / f"IM-000{i}-0001.png",
                    40 + 20 * i,
                )
    return root


def _one_line_cli_error(capsys, argv: list[str], *needles: str) -> str:
    capsys.readouterr()  # only this command's output (earlier loads print their skipped files)
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("radgen: error: ") and "\n" not in err and "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


def test_truncated_jpeg_is_skipped_and_counted_or_raised(tmp_path, capsys):
    root = _kaggle_tree(tmp_path / "cx")
    bad = root / "train/NORMAL/IM-0099-0001.jpeg"
    data = REAL_JPEG.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    ds = load_dataset("chest_xray_folder", path=str(root), size=16, progress=False)
    assert len(ds["train"]) == 6 and len(ds["test"]) == 6 and len(ds.bad_files) == 1
    assert ds.bad_files[0][0].endswith("IM-0099-0001.jpeg") and "truncated" in ds.bad_files[0][1]
    with pytest.raises(BadFileError, match="IM-0099-0001.jpeg: corrupt or truncated image"):
        load_dataset("chest_xray_folder", path=str(root), size=16, on_bad_file="error", cache=False, progress=False)
    _one_line_cli_error(
        capsys,
        ["data", "inspect", "chest_xray_folder", "--path", str(root), "--on-bad-file", "error", "--no-cache"],
        "IM-0099-0001.jpeg",
        "truncated",
    )


def test_garbage_image_file(tmp_path):
    root = _kaggle_tree(tmp_path / "cx")
    (root / "train/PNEUMONIA/person7_virus_9.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(BadFileError, match=r"person7_virus_9.png: (not a readable image|corrupt)"):
        load_dataset("chest_xray_folder", path=str(root), size=16, on_bad_file="error", cache=False, progress=False)


def test_empty_class_folder(tmp_path, capsys):
    """An empty class folder in train is refused (nothing can learn that class); in test it is a class with no
    images there, loaded with a note (a small synthetic release writes every class folder, empty ones too)."""
    root = _kaggle_tree(tmp_path / "cx")
    for f in (root / "test/NORMAL").iterdir():
        f.unlink()
    ds = load_dataset("chest_xray_folder", path=str(root), size=16, cache=False, progress=False)
    assert ds["test"].class_counts()["NORMAL"] == 0 and ds["test"].class_counts()["PNEUMONIA"] > 0
    assert any("test/NORMAL" in n for n in ds.notes)
    for f in (root / "train/NORMAL").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"train/NORMAL: class folder is empty"):
        load_dataset("chest_xray_folder", path=str(root), size=16, cache=False, progress=False)
    _one_line_cli_error(capsys, ["data", "inspect", "chest_xray_folder", "--path", str(root)], "NORMAL", "empty")


def test_missing_class_folder_and_missing_path(tmp_path, capsys):
    root = _kaggle_tree(tmp_path / "cx")
    shutil.rmtree(root / "train/PNEUMONIA")
    with pytest.raises(DataError, match=r"train/PNEUMONIA: class folder is missing"):
        load_dataset("chest_xray_folder", path=str(root), size=16, cache=False, progress=False)
    _one_line_cli_error(
        capsys,
        ["data", "inspect", "chest_xray_folder", "--path", str(tmp_path / "nowhere")],
        "nowhere",
        "no such folder",
    )


def test_csv_without_needed_columns(tmp_path, capsys):
    d = tmp_path / "cxr"
    d.mkdir()
    (d / "Data_Entry_2017.csv").write_text("Image,Labels\na.png,Mass\n")
    _one_line_cli_error(
        capsys,
        ["data", "inspect", "cxr14", "--path", str(d)],
        "Data_Entry_2017.csv",
        "lacks columns",
        "Finding Labels",
    )


def _idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    return (
        struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in arr.shape) + arr.astype(np.uint8).tobytes()
    )


def test_idx_bad_magic_and_bad_length(tmp_path, capsys):
    imgs = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    good = tmp_path / "good-idx3-ubyte"
    good.write_bytes(_idx_bytes(imgs, 0x803))
    arr, _ = read_idx(good, expect_ndim=3)
    np.testing.assert_array_equal(arr, imgs)
    gz = tmp_path / "good-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(_idx_bytes(imgs, 0x803)))
    np.testing.assert_array_equal(read_idx(gz)[0], imgs)

    bad_magic = tmp_path / "magic-idx3-ubyte"
    bad_magic.write_bytes(_idx_bytes(imgs, 0x1234803))
    with pytest.raises(BadFileError, match="magic-idx3-ubyte: bad IDX magic number"):
        read_idx(bad_magic)
    short = tmp_path / "short-idx3-ubyte"
    short.write_bytes(_idx_bytes(imgs, 0x803)[:-5])
    with pytest.raises(
        BadFileError, match=r"short-idx3-ubyte: IDX payload is 43 bytes but the header \(2, 4, 4\) says 48"
    ):
        read_idx(short)
    trunc_gz = tmp_path / "trunc-idx3-ubyte.gz"
    trunc_gz.write_bytes(gzip.compress(_idx_bytes(imgs, 0x803))[:20])
    with pytest.raises(BadFileError, match="trunc-idx3-ubyte.gz: cannot decompress"):
        read_idx(trunc_gz)
    # through the loader and CLI: a copy of MNIST whose labels file is cut short
    mn = tmp_path / "mnist"
    mn.mkdir()
    for f in (DATA / "mnist").glob("*.gz"):
        shutil.copy(f, mn / f.name)
    (mn / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(gzip.decompress((DATA / "mnist/t10k-labels-idx1-ubyte.gz").read_bytes())[:-7])
    )
    _one_line_cli_error(
        capsys, ["data", "inspect", "mnist", "--path", str(mn)], "t10k-labels-idx1-ubyte.gz", "truncated or padded"
    )


def test_idx_payload_md5_checked_not_gz_md5(tmp_path):
    mn = tmp_path / "mnist"
    mn.mkdir()
    for f in (DATA / "mnist").glob("*.gz"):
        # re-wrap every payload in a new gzip member: the .gz md5 changes, the payload does not
        (mn / f.name).write_bytes(gzip.compress(gzip.decompress(f.read_bytes()), mtime=12345))
    ds = load_dataset("mnist", path=str(mn), progress=False)
    assert len(ds["train"]) == 60000
    assert len(ds.info["payload_md5_verified"]) == 4
    raw = bytearray(gzip.decompress((DATA / "mnist/t10k-images-idx3-ubyte.gz").read_bytes()))
    raw[-1] ^= 0xFF  # one changed pixel
    (mn / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(BadFileError, match="t10k-images-idx3-ubyte.gz: decompressed payload md5"):
        load_dataset("mnist", path=str(mn), progress=False)
    assert len(load_dataset("mnist", path=str(mn), options={"verify": "none"}, progress=False)["test"]) == 10000


def _three_slices(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A copy of the kit's first three CT slices in ``tmp_path/series`` (to damage), and the originals."""
    d = tmp_path / "series"
    d.mkdir()
    src = sorted((DATA / "ct/dicom_series/pancreas_ct_12slices").glob("*.dcm"))[:3]
    for f in src:
        shutil.copy(f, d / f.name)
    return d, src


def test_dicom_without_pixel_data(tmp_path, capsys):
    import pydicom

    d, src = _three_slices(tmp_path)
    ds = pydicom.dcmread(d / src[1].name)
    del ds.PixelData
    ds.save_as(d / src[1].name)
    out = load_dataset("ct_dicom", path=str(d), cache=False, progress=False)
    assert len(out["train"]) == 2 and "no pixel data" in out.bad_files[0][1]
    _one_line_cli_error(
        capsys,
        ["data", "inspect", "ct_dicom", "--path", str(d), "--on-bad-file", "error"],
        src[1].name,
        "no pixel data",
    )


def test_garbage_npz_and_unknown_option_and_name(tmp_path, capsys):
    f = tmp_path / "x.npz"
    f.write_bytes(b"PK\x03\x04 garbage")
    _one_line_cli_error(capsys, ["data", "inspect", "chest_xray_64", "--path", str(f)], "x.npz", "not a readable .npz")
    _one_line_cli_error(
        capsys,
        ["data", "inspect", "ct_dicom", "-o", "windw=lung"],
        "no option 'windw'",
        "valid: window, stride, series_uid",
    )
    _one_line_cli_error(
        capsys, ["data", "inspect", "chest_xrays"], "unknown dataset 'chest_xrays'", "chest_xray_full_64"
    )
    _one_line_cli_error(capsys, ["data", "inspect", "ct_dicom", "-o", "window=sinus"], "window='sinus'", "soft_tissue")
    with pytest.raises(ConfigError, match="size=2 must be an integer from 4 to 4096"):
        load_dataset("pneumoniamnist", size=2, progress=False)


def test_medmnist_offline_names_the_file_and_where_to_put_it(tmp_path, monkeypatch, capsys):
    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    err = _one_line_cli_error(
        capsys,
        ["data", "inspect", "pneumoniamnist", "--data-dir", str(tmp_path), "-o", "file_size=64"],
        "pneumoniamnist_64.npz",
        "download it by hand",
    )
    assert str(tmp_path) in err
    assert not list(tmp_path.rglob("*.npz"))  # nothing half-written


def test_medmnist_md5_mismatch(tmp_path):
    d = tmp_path / "pneumoniamnist"
    d.mkdir()
    with np.load(DATA / "pneumoniamnist/pneumoniamnist.npz") as z:
        np.savez(d / "pneumoniamnist.npz", **{k: z[k] for k in z.files})
    with pytest.raises(BadFileError, match="is not the official pneumoniamnist 28 px file"):
        load_dataset("pneumoniamnist", data_dir=str(tmp_path), progress=False)
    assert (
        len(load_dataset("pneumoniamnist", data_dir=str(tmp_path), options={"verify": "none"}, progress=False)["test"])
        == 624
    )


@pytest.mark.parametrize(
    "labels, bad",
    [([0, 1, 7, 255], 2), ([0, 1, -1, 0], 1), ([0.0, 1.0, float("nan"), 1.0], 1), ([0.0, 1.5, 1.0, 0.0], 1)],
    ids=["7-and-255", "negative", "nan", "fraction"],
)
def test_labels_outside_the_classes_are_refused_not_dropped(labels, bad):
    """Red team 2, items 8-9: labels 7 or 255 in a 2-class set counted 20 of 40 images and trained; negative or
    NaN labels ended in a bincount traceback. Each is now one DataError naming where and how many."""
    from radgen.data.source import check_class_labels
    from radgen.errors import DataError

    arr = np.array(labels * 10)
    with pytest.raises(DataError, match=rf"^x.npz:train: {bad * 10} of 40 labels are not class numbers 0\.\.1"):
        check_class_labels(arr, 2, where="x.npz:train")
    np.testing.assert_array_equal(check_class_labels(np.array([0, 1, 1.0, 0]), 2, where="x"), [0, 1, 1, 0])


def test_an_npz_with_labels_outside_the_classes_is_one_line_from_the_cli(tmp_path, capsys):
    from radgen.cli import main

    imgs = np.zeros((8, 28, 28), dtype=np.uint8)
    arrays = {f"{s}_images": imgs for s in ("train", "val", "test")}
    arrays |= {f"{s}_labels": np.array([0, 1, 7, 255] * 2).reshape(-1, 1) for s in ("train", "val", "test")}
    np.savez(tmp_path / "k.npz", **arrays)
    assert main(["data", "inspect", str(tmp_path / "k.npz"), "-o", "verify=none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("radgen: error: k.npz:train: 4 of 8 labels are not class numbers 0..1 (e.g. 7)")


@pytest.mark.parametrize("slope", ["nan", "1e308"])
def test_dicom_with_a_broken_rescale_is_a_bad_file_not_nan_slices(tmp_path, slope):
    """Red team 2, item 8: RescaleSlope nan or 1e308 loaded NaN slices."""
    import pydicom

    d, src = _three_slices(tmp_path)
    ds = pydicom.dcmread(d / src[1].name)
    ds.RescaleSlope = slope
    ds.save_as(d / src[1].name)
    out = load_dataset("ct_dicom", path=str(d), cache=False, progress=False)
    assert len(out["train"]) == 2 and torch_isfinite_all(out["train"].pixels)
    assert "RescaleSlope" in out.bad_files[0][1] and src[1].name in out.bad_files[0][0]


def torch_isfinite_all(t) -> bool:
    import torch

    return bool(torch.isfinite(t.float()).all())


def test_radgens_own_secondary_capture_dicom_is_not_read_as_hounsfield_units(tmp_path, capsys):
    """Red team 2, item 8: a released synthetic (Secondary Capture, Modality OT) DICOM read by ct_dicom was
    windowed as if its 8-bit values were HU."""
    from radgen.release import _write_dicom

    d = tmp_path / "released"
    d.mkdir()
    for i in range(2):
        arr = np.full((16, 16), 40 * i, np.uint8)
        _write_dicom(arr, d / f"s{i}.dcm", generator="x", series_uid="1.2.3.4", study_uid="1.2.3", number=i + 1)
    _one_line_cli_error(capsys, ["data", "inspect", "ct_dicom", "--path", str(d)], "s0.dcm", "not CT")


@pytest.mark.parametrize("bits", [10, 12, 16])
def test_high_bit_depth_png_uses_its_stored_range(tmp_path, bits):
    """Red team 2, item 8: 12-bit data in a 16-bit PNG loaded almost black (scaled by 65535)."""
    from radgen.data.decode import decode_image

    top = 2**bits - 1
    a = np.linspace(0, top, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "x.png")  # PIL writes uint16 as a 16-bit greyscale PNG
    arr, _ = decode_image(tmp_path / "x.png")
    assert arr.max() == 255 and arr.min() == 0
    np.testing.assert_allclose(arr.astype(float), np.round(a / top * 255), atol=0.5)


def _kit_like_npz(path: Path, **replace) -> Path:
    imgs, labels = np.zeros((4, 28, 28), np.uint8), np.zeros((4, 1), np.uint8)
    arrays = {
        f"{s}_{k}": imgs if k == "images" else labels for s in ("train", "val", "test") for k in ("images", "labels")
    }
    np.savez(path, **{**arrays, **replace})
    return path


def test_npz_members_that_are_pickles_or_declare_huge_shapes_are_refused_before_any_allocation(tmp_path, capsys):
    """Red team 2, item 9: a declared shape of 931 GiB ended in _ArrayMemoryError; a pickled member or junk bytes
    got numpy's advice to load with allow_pickle."""
    import io
    import zipfile

    obj = _kit_like_npz(tmp_path / "obj.npz", train_images=np.array([object()] * 4, dtype=object))
    _one_line_cli_error(capsys, ["data", "inspect", "chest_xray_64", "--path", str(obj)], "Python objects")
    good = _kit_like_npz(tmp_path / "good.npz")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (10**6, 10**3, 10**3)}
    )
    huge = tmp_path / "huge.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(huge, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, header.getvalue() + b"x" * 100 if name == "train_images.npy" else zin.read(name))
    err = _one_line_cli_error(capsys, ["data", "inspect", "chest_xray_64", "--path", str(huge)], "931 GiB")
    assert "holds 100 bytes" in err
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x80\x04" + b"junk" * 20)  # a pickle's first bytes
    err = _one_line_cli_error(capsys, ["data", "inspect", "chest_xray_64", "--path", str(junk)], "not a readable .npz")
    assert "allow_pickle" not in err and "pickle.load" not in err


def test_a_fifo_named_like_a_data_file_is_refused_not_read(tmp_path, capsys):
    """Red team 2, item 9: a FIFO named x.npz hung every command that read it."""
    import os

    fifo = tmp_path / "x.npz"
    os.mkfifo(fifo)
    _one_line_cli_error(capsys, ["data", "inspect", str(fifo)], "not a regular file")
    _one_line_cli_error(capsys, ["data", "inspect", "chest_xray_64", "--path", str(fifo)], "not a regular file")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "tiny", "--set", "seed=-1"], "seed=-1 must be from 0 to 4294967295"),
        (["train", "tiny", "--set", "seed=4294967296"], "seed=4294967296 must be from 0 to 4294967295"),
        (["train", "tiny", "--set", "data.size=100000"], "data.size=100000 must be from 1 to 4096 px"),
        (["data", "inspect", "pneumoniamnist", "--size", "100000"], "size=100000 must be an integer from 4 to 4096"),
    ],
    ids=["seed-negative", "seed-too-big", "train-size", "inspect-size"],
)
def test_settings_numpy_or_memory_cannot_take_are_refused_in_one_line(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    _one_line_cli_error(capsys, argv, needle)
    assert list(tmp_path.iterdir()) == []  # nothing written
