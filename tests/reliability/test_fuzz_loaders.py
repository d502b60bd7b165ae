"""Fuzzing the loaders: truncated, bit-flipped and wrongly typed versions of real files.

Every case either loads or raises one of radgen's documented errors (RadgenError); nothing
else may escape. The corpus is seeded (numpy) so failures reproduce.
"""

from __future__ import annotations

import gzip
import shutil

import numpy as np

from radgen.data import load_dataset
from radgen.data.cxr14 import read_csv_rows
from radgen.data.decode import decode_image
from radgen.data.idx import read_idx
from radgen.errors import RadgenError
from tests.conftest import require_data_kit

DATA = require_data_kit()

RNG_SEED = 1234


def mutations(data: bytes, n: int, rng: np.random.Generator) -> list[bytes]:
    """n corrupted variants: truncations, bit flips, zeroed blocks, garbage prefixes, empty."""
    out = [b"", data[:1], data[: len(data) // 2]]
    while len(out) < n:
        kind = rng.integers(4)
        b = bytearray(data)
        if kind == 0:
            b = b[: int(rng.integers(1, len(b)))]
        elif kind == 1:
            for pos in rng.integers(0, len(b), size=int(rng.integers(1, 20))):
                b[pos] ^= 1 << int(rng.integers(8))
        elif kind == 2:
            s = int(rng.integers(0, len(b)))
            b[s : s + int(rng.integers(1, 512))] = bytes(min(len(b) - s, 512))
        else:
            b = bytearray(rng.bytes(int(rng.integers(1, 64)))) + b
        out.append(bytes(b))
    return out


def expect_documented(fn) -> str:
    try:
        fn()
        return "ok"
    except RadgenError:
        return "error"


def test_fuzz_corpus_only_documented_errors_escape(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    outcomes: dict[str, list[str]] = {}

    # 1. images: a real JPEG and a PNG made from it
    jpeg = sorted((DATA / "chest_xray_sample/train/PNEUMONIA").glob("*.jpeg"))[0].read_bytes()
    png_path = tmp_path / "ref.png"
    img, _ = decode_image(sorted((DATA / "chest_xray_sample/train/PNEUMONIA").glob("*.jpeg"))[0])
    from PIL import Image

    Image.fromarray(img[:200, :200]).save(png_path)
    for label, data, suffix in (("jpeg", jpeg, ".jpeg"), ("png", png_path.read_bytes(), ".png")):
        res = []
        for i, m in enumerate(mutations(data, 120, rng)):
            f = tmp_path / f"{label}{i}{suffix}"
            f.write_bytes(m)
            res.append(expect_documented(lambda f=f: decode_image(f, target_size=32)))
        outcomes[label] = res

    # 2. IDX (raw and gzipped)
    idx = gzip.decompress((DATA / "mnist/t10k-labels-idx1-ubyte.gz").read_bytes())
    res = []
    for i, m in enumerate(mutations(idx, 80, rng)):
        f = tmp_path / f"idx{i}-ubyte" if i % 2 else tmp_path / f"idx{i}-ubyte.gz"
        f.write_bytes(m if i % 2 else gzip.compress(m) if i % 4 else m)
        res.append(expect_documented(lambda f=f: read_idx(f)))
    outcomes["idx"] = res

    # 3. NPZ through the chest X-ray array source
    npz = (DATA / "pneumoniamnist/pneumoniamnist.npz").read_bytes()
    res = []
    for i, m in enumerate(mutations(npz, 60, rng)):
        f = tmp_path / f"arr{i}.npz"
        f.write_bytes(m)
        res.append(
            expect_documented(lambda f=f: load_dataset("chest_xray_64", path=str(f), cache=False, progress=False))
        )
    outcomes["npz"] = res

    # 4. CSV (CXR14 header + first rows)
    csv = b"\n".join(
        gzip.decompress((DATA / "cxr14_sample/Data_Entry_2017_v2020.csv.gz").read_bytes()).split(b"\n")[:200]
    )
    res = []
    for i, m in enumerate(mutations(csv, 80, rng)):
        f = tmp_path / f"Data_Entry_{i}.csv"
        f.write_bytes(m)
        res.append(expect_documented(lambda f=f: read_csv_rows(f)))
    outcomes["csv"] = res

    # 5. DICOM: a folder of two good slices and one mutated file
    good = sorted((DATA / "ct/dicom_series/pancreas_ct_12slices").glob("*.dcm"))[:3]
    res = []
    for i, m in enumerate(mutations(good[2].read_bytes(), 60, rng)):
        d = tmp_path / f"dcm{i}"
        d.mkdir()
        for g in good[:2]:
            shutil.copy(g, d / g.name)
        (d / "x.dcm").write_bytes(m)
        res.append(
            expect_documented(
                lambda d=d: load_dataset("ct_dicom", path=str(d), cache=False, on_bad_file="error", progress=False)
            )
        )
    outcomes["dicom"] = res

    # 6. NIfTI: a small real-header volume
    import nibabel as nib

    vol = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(np.arange(8 * 8 * 3, dtype=np.int16).reshape(8, 8, 3), np.eye(4)), vol)
    res = []
    for i, m in enumerate(mutations(vol.read_bytes(), 60, rng)):
        f = tmp_path / f"n{i}.nii.gz"
        f.write_bytes(m)
        res.append(
            expect_documented(
                lambda f=f: load_dataset("ct_nifti", path=str(f), cache=False, on_bad_file="error", progress=False)
            )
        )
    outcomes["nifti"] = res

    # 7. wrong types: each format's bytes under another format's name
    res = []
    blobs = {"jpeg": jpeg[:4000], "npz": npz[:4000], "csv": csv[:4000], "idx": idx[:4000]}
    for name, blob in blobs.items():
        for suffix, fn in (
            (".png", lambda f: decode_image(f)),
            ("-idx3-ubyte", lambda f: read_idx(f)),
            (".csv", lambda f: read_csv_rows(f)),
        ):
            f = tmp_path / f"wrong-{name}{suffix}"
            f.write_bytes(blob)
            res.append(expect_documented(lambda fn=fn, f=f: fn(f)))
    outcomes["wrong_type"] = res

    total = sum(len(v) for v in outcomes.values())
    print({k: (len(v), v.count("error")) for k, v in outcomes.items()}, "total", total)
    assert total >= 500
    # the corruption really bites: most cases are rejected with a documented error
    assert sum(v.count("error") for v in outcomes.values()) > total / 2
