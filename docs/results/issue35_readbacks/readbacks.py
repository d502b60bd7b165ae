"""Issue 35: a radgen release read back by MONAI's LoadImage, Hugging Face datasets' imagefolder and medmnist's
PneumoniaMNIST class (through the three-line subclass of docs/tutorials/release.md), each compared image by image
and label by label with the release's .npz. Prints a Markdown table and writes readbacks.json beside this file.

Run from the repository root (the data kit at $RADGEN_DATA_DIR; medmnist, which requires torchvision, added by
PYTHONPATH from a --no-deps install so no torchvision is installed):
    RADGEN_DATA_DIR=/work/shared/data PYTHONPATH=/tmp/medmnist_site HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
      .venv/bin/python docs/results/issue35_readbacks/readbacks.py /tmp/rb/work
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import yaml

from radgen.api import release
from radgen.models.base import build_model
from radgen.models.export import save_exported

SPLITS = ("train", "val", "test")
N, FRACTIONS = 300, (0.8, 0.1, 0.1)


def make_release(work: Path) -> Path:
    run = work / "cvae-run"
    model = build_model(
        {"name": "vae", "latent_dim": 2, "hidden": [16], "conditional": "one_hot"},
        image_size=28,
        channels=1,
        num_classes=2,
    )  # untrained: the read-backs test the files, not the images' quality
    save_exported(model, run / "export", extra={"data": {"class_names": ["normal", "pneumonia"]}})
    data = {"name": "pneumoniamnist", "val_from_train": 0.1}
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "vae"}, "data": data}))
    (run / "run.json").write_text(json.dumps({"model": "vae"}))
    out, _ = release(run, n=N, out=work / "rel", formats=("png", "npz", "dicom"), splits=FRACTIONS, progress=False)
    return out


def truth(out: Path):
    sheet = json.loads((out / "datasheet.json").read_text())
    z = np.load(out / f"{sheet['name']}.npz", allow_pickle=False)
    t, start = {}, 0
    for s in SPLITS:
        imgs, labs = z[f"{s}_images"], z[f"{s}_labels"]
        t[s] = {start + j: (imgs[j], int(labs[j, 0])) for j in range(len(imgs))}
        start += len(imgs)
    folder_label = {f: sheet["label_index"][c] for c, f in sheet["class_folders"].items()}
    return sheet, t, folder_label


def num(p) -> int:
    return int(Path(p).stem.split("_")[1])


def row(tool, split, got: dict[int, tuple[np.ndarray, int]], want: dict[int, tuple[np.ndarray, int]]):
    same_set = sorted(got) == sorted(want)
    diff = max(int(np.abs(got[i][0].astype(int) - want[i][0].astype(int)).max()) for i in want) if same_set else None
    labels_equal = same_set and all(got[i][1] == want[i][1] for i in want)
    per_class = {c: sum(1 for v in got.values() if v[1] == c) for c in (0, 1)}
    return {
        "tool": tool,
        "split": split,
        "images_read": len(got),
        "in_release": len(want),
        "labels_read_per_class": per_class,
        "same_images": same_set,
        "max_abs_pixel_diff": diff,
        "labels_equal": labels_equal,
    }


def monai_rows(out, t, folder_label):
    from monai.data import Dataset
    from monai.transforms import LoadImaged

    rows = []
    for tool, root, kind, reader in (
        ("monai LoadImage (PNG, PILReader)", out, "png", "PILReader"),
        ("monai LoadImage (DICOM, PydicomReader)", out / "dicom", "dcm", "PydicomReader"),
    ):
        for s in SPLITS:
            files = sorted((root / s).rglob(f"*.{kind}"))
            ds = Dataset(
                [{"image": str(f), "label": folder_label[f.parent.name]} for f in files],
                transform=LoadImaged(keys="image", image_only=True, reader=reader),
            )
            got = {num(f): (item["image"].numpy().T, int(item["label"])) for f, item in zip(files, ds)}  # (x, y) axes
            rows.append(row(tool, s, got, t[s]))
    return rows


def hf_rows(out, t, folder_label, work):
    from datasets import Image as HFImage
    from datasets import load_dataset

    dsd = load_dataset("imagefolder", data_dir=str(out), cache_dir=str(work / "hf"))
    rows = []
    for s, hs in zip(SPLITS, ("train", "validation", "test")):
        ds = dsd[hs]
        names = ds.features["label"].names
        paths = ds.cast_column("image", HFImage(decode=False))["image"]
        got = {num(p["path"]): (np.asarray(r["image"]), folder_label[names[r["label"]]]) for r, p in zip(ds, paths)}
        rows.append(row(f'datasets imagefolder (split "{hs}")', s, got, t[s]))
    return rows


def medmnist_rows(out, sheet, t, work):
    os.environ["HOME"] = str(work)  # medmnist makes ~/.medmnist when imported
    import medmnist

    class SyntheticPneumoniaMNIST(medmnist.PneumoniaMNIST):
        def __len__(self):
            return self.imgs.shape[0]  # medmnist asserts the official split sizes here

    root = work / "medmnist_root"
    root.mkdir()
    (root / "pneumoniamnist.npz").symlink_to(out / f"{sheet['name']}.npz")
    rows = []
    for s in SPLITS:
        ds = SyntheticPneumoniaMNIST(split=s, root=str(root))
        order = sorted(t[s])
        got = {order[k]: (np.asarray(img), int(target[0])) for k, (img, target) in enumerate(ds)}
        rows.append(row("medmnist PneumoniaMNIST subclass", s, got, t[s]))
    return rows


def main(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out = make_release(work)
    sheet, t, folder_label = truth(out)
    rows = monai_rows(out, t, folder_label) + hf_rows(out, t, folder_label, work) + medmnist_rows(out, sheet, t, work)
    z = np.load(out / f"{sheet['name']}.npz", allow_pickle=False)["train_images"].astype(int)
    yardstick = int(np.abs(z[1:] - z[:-1]).max(axis=(1, 2)).min())  # what one image read in another's place shows
    versions = {p: version(p) for p in ("radgen", "monai", "datasets", "medmnist", "pydicom", "pillow", "numpy")}
    result = {
        "release": {"n": sheet["n"], "counts": sheet["counts"], "formats": sheet["formats"]},
        "min_over_neighbours_of_max_abs_diff_between_two_release_images": yardstick,
        "versions": versions,
        "rows": rows,
    }
    (Path(__file__).parent / "readbacks.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"release: {sheet['n']} images, counts {sheet['counts']}; versions {versions}")
    print(
        f"yardstick: two neighbouring train images of the release differ by at least {yardstick} grey levels "
        "(max over pixels, min over neighbours), so an image read in another's place would show\n"
    )
    print(
        "| reader | split | images read / in release | labels read (normal, pneumonia) | same images | "
        "max abs pixel diff | labels equal |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        pc = r["labels_read_per_class"]
        print(
            f"| {r['tool']} | {r['split']} | {r['images_read']} / {r['in_release']} | {pc[0]}, {pc[1]} | "
            f"{r['same_images']} | {r['max_abs_pixel_diff']} | {r['labels_equal']} |"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
