"""The memory-mapped preprocessed cache: identical batches, chunked builds, damage, streaming, legacy .npz."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

import radgen.data.source as source_mod
from radgen.cli import main
from radgen.data import load_dataset
from radgen.data.cache import NpyRowWriter, open_cache
from radgen.data.load import DataConfig, _preprocess, cache_key, make_source
from radgen.errors import ConfigError
from radgen.training.data import make_loader

SIDE = 24


def _folder(root, n_per_class=(40, 24), *, bad=0):
    """ROOT/<class>/*.png of random grey images (sizes vary, so the loader resizes), plus ``bad`` corrupt files."""
    rng = np.random.default_rng(0)
    for c, n in enumerate(n_per_class):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(n):
            h, w = 30 + (i % 7), 28 + (i % 5)
            Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(d / f"p{i // 2}_{i}.png")
    for j in range(bad):
        (root / "class0" / f"zz_bad{j}.png").write_bytes(b"\x89PNG not really")
    return root


def _load(root, cache_folder, monkeypatch, **kw):
    monkeypatch.setenv("RADGEN_CACHE_DIR", str(cache_folder))
    return load_dataset("image_folder", path=str(root), size=SIDE, progress=False, **kw)


def _arrays(folder):
    return {f.name: np.load(f, allow_pickle=False) for f in sorted(folder.glob("*.npy"))}


def test_mmap_and_memory_paths_give_identical_batches_for_the_same_seed(tmp_path, monkeypatch):
    root = _folder(tmp_path / "imgs")
    mem = _load(root, tmp_path / "c1", monkeypatch, storage="memory", val_from_train=0.25)
    mm = _load(root, tmp_path / "c2", monkeypatch, storage="mmap", val_from_train=0.25)
    assert mem.info["storage"] == "memory" and mm.info["storage"] == "mmap"
    assert mm["train"].rows is not None  # the carved split indexes the mapping; it is not a copy
    assert mm["train"].pixels.shape[0] == len(mem["train"]) + len(mem["val"])
    for split in ("train", "val"):
        assert mem[split].paths == mm[split].paths
        a = make_loader(mem[split], batch_size=8, shuffle=True, seed=5)
        b = make_loader(mm[split], batch_size=8, shuffle=True, seed=5)
        for epoch in (0, 1):
            a.sampler.set_epoch(epoch)
            b.sampler.set_epoch(epoch)
            batches = list(zip(a, b, strict=True))
            assert len(batches) == -(-len(mem[split]) // 8)
            for (xa, ya), (xb, yb) in batches:
                assert xa.dtype == xb.dtype == torch.float32 and float(xb.max()) <= 1.0
                assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # the views (channel replication, normalisation) are the same on mapped pixels
    v_mem = mem["train"].with_view(channels=3, normalize="imagenet")
    v_mm = mm["train"].with_view(channels=3, normalize="imagenet")
    torch.testing.assert_close(v_mem.batch([3, 0, 7])[0], v_mm.batch([3, 0, 7])[0], rtol=0, atol=0)
    # a second auto load maps the cache the memory path wrote
    again = _load(root, tmp_path / "c1", monkeypatch, val_from_train=0.25)
    assert again.from_cache and again.info["storage"] == "mmap"
    assert torch.equal(again["val"].stored(), mem["val"].stored())


def test_cache_built_in_chunks_equals_one_built_at_once(tmp_path, monkeypatch):
    root = _folder(tmp_path / "imgs", bad=2)
    at_once = _load(root, tmp_path / "c1", monkeypatch, storage="memory")
    monkeypatch.setattr(source_mod, "STREAM_CHUNK_BYTES", 5 * SIDE * SIDE)  # 5 images per chunk
    chunked = _load(root, tmp_path / "c2", monkeypatch, storage="mmap")
    n = 64  # kept images; the 2 corrupt files are counted, not stored
    assert len(at_once["train"]) == len(chunked["train"]) == n
    assert len(at_once.bad_files) == len(chunked.bad_files) == 2
    assert chunked.info["streamed"]["train"] == {"images": n, "chunks": -(-n // 5)}
    (d1,), (d2,) = (list((tmp_path / c).glob("image_folder-*")) for c in ("c1", "c2"))
    assert d1.name == d2.name  # same key: how a cache was built is not part of what it holds
    a1, a2 = _arrays(d1), _arrays(d2)
    assert a1.keys() == a2.keys() and "train.pixels.npy" in a1
    for k in a1:
        assert a1[k].dtype == a2[k].dtype and np.array_equal(a1[k], a2[k]), k
    m1, m2 = (json.loads((d / "manifest.json").read_text()) for d in (d1, d2))
    assert m1["arrays"] == m2["arrays"] and m1["bad_files"] == m2["bad_files"]


@pytest.mark.parametrize("capacity,rows", [(100_000, 99_999), (1000, 0), (12, 12), (10, 3)])
def test_row_writer_shrinks_the_header_to_the_rows_written(tmp_path, capacity, rows):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (rows, 1, 2, 3), dtype=np.uint8)
    w = NpyRowWriter(tmp_path / "a.npy", dtype=np.uint8, row_shape=(1, 2, 3), capacity=capacity)
    for s in range(0, rows, 7919):  # uneven chunks
        w.write(data[s : s + 7919])
    w.close()
    back = np.load(tmp_path / "a.npy", mmap_mode="r", allow_pickle=False)
    assert back.shape == (rows, 1, 2, 3) and np.array_equal(back, data)
    assert back.offset % 64 == 0  # the header keeps numpy's alignment
    assert (tmp_path / "a.npy").stat().st_size == back.offset + data.nbytes  # truncated after the last row


def test_truncated_or_incomplete_cache_is_detected_and_rebuilt(tmp_path, monkeypatch, caplog):
    root = _folder(tmp_path / "imgs")
    first = _load(root, tmp_path / "c", monkeypatch, storage="mmap")
    ref = first["train"].stored().clone()
    (d,) = list((tmp_path / "c").glob("image_folder-*"))
    px = d / "train.pixels.npy"
    del first
    with open(px, "r+b") as f:  # a copy cut short
        f.truncate(px.stat().st_size - 100)
    with caplog.at_level(logging.WARNING, logger="radgen.data.load"):
        again = _load(root, tmp_path / "c", monkeypatch)
    assert not again.from_cache and "train.pixels.npy" in caplog.text and "manifest says" in caplog.text
    assert torch.equal(again["train"].stored(), ref)
    assert open_cache(d, storage="mmap")[0]["train"].pixels.shape[0] == len(ref)  # whole again
    (d / "manifest.json").unlink()  # an interrupted copy of the folder
    third = _load(root, tmp_path / "c", monkeypatch)
    assert not third.from_cache and torch.equal(third["train"].stored(), ref)
    assert _load(root, tmp_path / "c", monkeypatch).from_cache
    assert not list((tmp_path / "c").glob(".*"))  # no build or damaged folders left behind


def test_budget_smaller_than_the_data_takes_the_streaming_path(tmp_path, monkeypatch):
    root = _folder(tmp_path / "imgs")
    need = 64 * SIDE * SIDE  # uint8 pixels of the 64 images
    small = _load(root, tmp_path / "c1", monkeypatch, max_memory_gb=need / 2 / 1e9)
    assert small.info["streamed"]["train"]["images"] == 64 and small.info["storage"] == "mmap"
    assert small["train"].storage == "mmap" and not small.from_cache
    roomy = _load(root, tmp_path / "c2", monkeypatch, max_memory_gb=need * 2 / 1e9)
    assert "streamed" not in roomy.info and roomy.info["storage"] == "memory"
    assert torch.equal(small["train"].stored(), roomy["train"].stored())
    # without a cache to stream into, a budget that cannot hold the data is refused, nothing written
    with pytest.raises(ConfigError, match="more than the memory budget.*data.max_memory_gb"):
        _load(root, tmp_path / "c3", monkeypatch, max_memory_gb=need / 2 / 1e9, cache=False)
    assert not (tmp_path / "c3").exists()
    with pytest.raises(ConfigError, match="max_memory_gb=-1"):
        _load(root, tmp_path / "c3", monkeypatch, max_memory_gb=-1)


def test_cli_budget_flag_streams_and_reports_the_storage(tmp_path, monkeypatch, capsys):
    root = _folder(tmp_path / "imgs")
    monkeypatch.setenv("RADGEN_CACHE_DIR", str(tmp_path / "c"))
    args = ["data", "inspect", "image_folder", "--path", str(root), "--size", str(SIDE), "--json"]
    assert main([*args, "--max-memory-gb", "1e-6"]) == 0  # 1 kB: below the 37 kB of pixels
    out = json.loads(capsys.readouterr().out)
    assert out["stored"]["storage"] == "mmap" and out["total"]["images"] == 64
    assert main([*args, "--storage", "memory", "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out)["stored"]["storage"] == "memory"


def test_cxr14_streams_and_keeps_missing_images_counted(tmp_path, monkeypatch):
    d = tmp_path / "cxr14"
    (d / "images").mkdir(parents=True)
    rows = ["Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position"]
    rng = np.random.default_rng(2)
    for i in range(30):
        name = f"{i:08d}_000.png"
        rows.append(f"{name},{'Effusion|Mass' if i % 3 else 'No Finding'},0,{i // 2},50,M,PA")
        if i % 10 != 9:  # 3 images listed but missing
            Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(d / "images" / name)
    (d / "Data_Entry_2017.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("RADGEN_CACHE_DIR", str(tmp_path / "c"))
    kw = {"path": str(d), "size": 16, "progress": False}
    streamed = load_dataset("cxr14", max_memory_gb=1e-9, **kw)
    in_memory = load_dataset("cxr14", storage="memory", cache=False, **kw)
    assert streamed.info["streamed"]["train"]["images"] == 27 and streamed["train"].storage == "mmap"
    assert streamed.info["images_missing"] == in_memory.info["images_missing"] == 3
    assert any("3 of 30 images" in n for n in streamed.notes)
    assert torch.equal(streamed["train"].labels, in_memory["train"].labels)
    assert torch.equal(streamed["train"].stored(), in_memory["train"].stored())
    assert streamed["train"].meta["view_position"].tolist() == ["PA"] * 27


def test_legacy_npz_cache_stays_readable(tmp_path, monkeypatch):
    root = _folder(tmp_path / "imgs")
    ref = _load(root, tmp_path / "c0", monkeypatch, storage="memory", cache=False)
    s = ref["train"]
    cfg = DataConfig(name="image_folder", path=str(root), size=SIDE)
    src = make_source(cfg)
    manifest = {
        "splits": {"train": {"class_names": list(s.class_names), "task": s.task, "meta": list(s.meta)}},
        "notes": ["from an old radgen"],
        "bad_files": [],
        "info": {},
    }
    arrays = {"train__pixels": s.pixels.numpy(), "train__labels": s.labels.numpy()}
    arrays.update({f"train__meta__{k}": v for k, v in s.meta.items()})
    cache = tmp_path / "c"
    cache.mkdir()
    np.savez_compressed(
        cache / f"image_folder-{cache_key(src, _preprocess(cfg, src))}.npz",
        **arrays,
        __manifest__=np.array(json.dumps(manifest)),
    )
    old = _load(root, cache, monkeypatch)
    assert old.from_cache and old.notes == ["from an old radgen"] and old.info["storage"] == "memory"
    assert torch.equal(old["train"].pixels, s.pixels) and old["train"].paths == s.paths


@pytest.mark.parametrize(
    "damage",
    ["arrays-not-a-dict", "no-splits", "bytes-a-string", "split-without-meta", "array-missing"],
)
def test_a_structurally_wrong_manifest_is_rebuilt_not_a_traceback_on_every_load(tmp_path, monkeypatch, caplog, damage):
    """Red team 2, item 9: a manifest.json with the right format tag but wrong fields raised KeyError,
    AttributeError or TypeError on every later load, and the cache was never rebuilt."""
    root = _folder(tmp_path / "imgs", (6, 4))
    ref = _load(root, tmp_path / "c", monkeypatch)["train"].stored().clone()
    (d,) = list((tmp_path / "c").glob("image_folder-*"))
    m = json.loads((d / "manifest.json").read_text())
    if damage == "arrays-not-a-dict":
        m["arrays"] = ["train.pixels.npy"]
    elif damage == "no-splits":
        del m["splits"]
    elif damage == "bytes-a-string":
        next(iter(m["arrays"].values()))["bytes"] = "12"
    elif damage == "split-without-meta":
        del m["splits"]["train"]["meta"]
    else:
        del m["arrays"]["train.labels.npy"]
    (d / "manifest.json").write_text(json.dumps(m))
    with caplog.at_level(logging.WARNING, logger="radgen.data.load"):
        again = _load(root, tmp_path / "c", monkeypatch)
    assert not again.from_cache and "not laid out as radgen writes it" in caplog.text
    assert torch.equal(again["train"].stored(), ref)
    assert _load(root, tmp_path / "c", monkeypatch).from_cache  # rebuilt whole


def test_a_cache_file_replaced_by_a_link_to_another_cache_is_not_served(tmp_path, monkeypatch, caplog):
    """Red team 2, item 8: a cache file replaced by a symbolic link to a same-size file of another cache was
    served as this one."""
    a, b = _folder(tmp_path / "a", (6, 4)), tmp_path / "b"
    b.mkdir()
    for f in sorted(a.rglob("*.png")):  # the same layout and sizes, other pixels
        (b / f.parent.name).mkdir(exist_ok=True)
        Image.fromarray(255 - np.asarray(Image.open(f))).save(b / f.parent.name / f.name)
    ref_a = _load(a, tmp_path / "c", monkeypatch)["train"].stored().clone()
    ref_b = _load(b, tmp_path / "c", monkeypatch)["train"].stored().clone()
    da, db = sorted((tmp_path / "c").glob("image_folder-*"), key=lambda p: p.stat().st_mtime)
    assert (da / "train.pixels.npy").stat().st_size == (db / "train.pixels.npy").stat().st_size
    (da / "train.pixels.npy").unlink()
    (da / "train.pixels.npy").symlink_to(db / "train.pixels.npy")
    with caplog.at_level(logging.WARNING, logger="radgen.data.load"):
        again = _load(a, tmp_path / "c", monkeypatch)
    assert not again.from_cache and "symbolic link" in caplog.text
    assert torch.equal(again["train"].stored(), ref_a) and not torch.equal(ref_a, ref_b)


def test_mmap_on_a_cache_folder_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, capsys):
    """Red team 2, item 9: ``--storage mmap`` on a read-only cache said "need 0.00 GB, more than the budget"."""
    import os

    if os.geteuid() == 0:  # root writes through permission bits: make the folder a file's child instead
        blocker = tmp_path / "ro"
        blocker.write_text("a file, so nothing can be made under it")
        cache = blocker / "cache"
    else:
        cache = tmp_path / "ro"
        cache.mkdir()
        cache.chmod(0o500)
    monkeypatch.setenv("RADGEN_CACHE_DIR", str(cache))
    root = _folder(tmp_path / "imgs", (6, 4))
    assert main(["data", "inspect", str(root), "--size", str(SIDE), "--storage", "mmap"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the "reading ... as image_folder" line
    assert err.startswith("radgen: error:") and "data.storage=mmap needs a cache folder it can write" in err
