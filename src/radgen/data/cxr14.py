"""NIH ChestX-ray14 (Wang et al., CVPR 2017): ``Data_Entry_2017*.csv[.gz]`` plus an images folder.

``Finding Labels`` is ``|``-separated; ``No Finding`` means no positive label. Labels are
multi-hot over the conditions found in the CSV (14 in the official file), or, with
``label_mode='single'``, integer classes over ``No Finding`` + conditions for the rows
that carry at most one finding. Splits follow ``train_val_list.txt``/``test_list.txt``
when present, else everything is ``train`` (use ``--split-ratio`` for a patient-level
split by ``Patient ID``). Images the CSV names but the folder lacks are counted and
reported, never silently dropped; ``radgen data inspect cxr14`` works on the CSV alone.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from radgen.data.base import ImageSet
from radgen.data.decode import decode_image
from radgen.data.source import ReadContext, Record, Source, decode_records
from radgen.data.transforms import Preprocess
from radgen.errors import BadFileError, ConfigError, MissingDataError

REQUIRED_COLUMNS = ("Image Index", "Finding Labels", "Patient ID")
NO_FINDING = "No Finding"


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a (gzipped) UTF-8 CSV as dicts; an unreadable file is a BadFileError."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise BadFileError(path, f"cannot read as a (gzipped) UTF-8 CSV ({' '.join(str(exc).split())})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise BadFileError(
            path,
            f"CSV lacks columns {missing}; found {header[:6]}{'...' if len(header) > 6 else ''} "
            "(expected the NIH Data_Entry_2017 file)",
        )
    rows = list(reader)
    if not rows:
        raise BadFileError(path, "CSV has a header but no rows")
    for i, row in enumerate(rows):
        short = [c for c in REQUIRED_COLUMNS if row.get(c) is None]
        if short:  # csv.DictReader fills the fields a short row lacks with None
            raise BadFileError(
                path,
                f"line {i + 2} is short: it has no {short[0]!r} field; repair or re-download the CSV",
            )
    return rows


def split_findings(value: str) -> list[str]:
    """ChestX-ray14's ``Finding Labels`` cell as a list of findings (``No Finding`` gives none)."""
    return [t.strip() for t in value.split("|") if t.strip() and t.strip() != NO_FINDING]


class CXR14Source(Source):
    """NIH ChestX-ray14 (Wang et al. 2017): the Data_Entry CSV and its images, multi-label."""

    name = "cxr14"
    description = (
        "NIH ChestX-ray14: Data_Entry_2017*.csv[.gz] + images/ (multi-label, 14 "
        "conditions, patient-level splits); inspect works on the CSV alone"
    )
    default_path = "cxr14_sample"
    default_size = 64
    path_kind = "any"

    def __init__(self, path: Path, *, images: str | None = None, label_mode: str = "multi"):
        super().__init__(path)
        if label_mode not in ("multi", "single"):
            raise ConfigError(f"label_mode={label_mode!r}; valid: multi, single")
        self.images = images
        self.label_mode = label_mode

    # -- locating files ----------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return self.path if self.path.is_dir() else self.path.parent

    def csv_path(self) -> Path:
        if self.path.is_file():
            return self.path
        found = sorted(self.path.glob("Data_Entry_2017*.csv*"))
        if not found:
            raise MissingDataError(
                f"{self.path}: no Data_Entry_2017*.csv[.gz] here; put the NIH label CSV in this "
                "folder or pass --path to it"
            )
        return found[-1]

    def image_dirs(self) -> list[Path]:
        if self.images:
            d = Path(self.images)
            d = d if d.is_absolute() else self.folder / d
            if not d.is_dir():
                raise MissingDataError(f"{d}: images folder does not exist (option images=)")
            return [d]
        dirs = [self.folder / "images"] + sorted(self.folder.glob("images_*/images"))
        return [d for d in dirs if d.is_dir()]

    def files(self) -> list[Path]:
        out = [self.csv_path()] + [
            f for f in (self.folder / "train_val_list.txt", self.folder / "test_list.txt") if f.is_file()
        ]
        for d in self.image_dirs():
            out.extend(sorted(d.glob("*.png")))
        return out

    def image_index(self) -> dict[str, Path]:
        return {p.name: p for d in self.image_dirs() for p in d.glob("*.png")}

    def pixels_available(self) -> bool:
        return bool(self.image_dirs())

    # -- labels --------------------------------------------------------------------------
    def table(self) -> tuple[list[dict[str, str]], list[str]]:
        rows = read_csv_rows(self.csv_path())
        counts = Counter(f for r in rows for f in split_findings(r["Finding Labels"]))
        conditions = sorted(counts, key=lambda c: (-counts[c], c))
        return rows, conditions

    def official_split(self) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for split, fname in (("train", "train_val_list.txt"), ("test", "test_list.txt")):
            f = self.folder / fname
            if f.is_file():
                for line in f.read_text().split():
                    mapping[line.strip()] = split
        return mapping

    def describe(self) -> dict[str, Any]:
        rows, conditions = self.table()
        n = len(rows)
        counts = Counter(f for r in rows for f in split_findings(r["Finding Labels"]))
        n_labels = Counter(len(split_findings(r["Finding Labels"])) for r in rows)
        freq = [{"condition": c, "images": counts[c], "percent": round(100.0 * counts[c] / n, 2)} for c in conditions]
        freq.append({"condition": NO_FINDING, "images": n_labels[0], "percent": round(100.0 * n_labels[0] / n, 2)})
        present = self.image_index()
        named = {r["Image Index"] for r in rows}
        found = len(named & set(present))
        return {
            "csv": self.csv_path().name,
            "rows": n,
            "patients": len({r["Patient ID"] for r in rows}),
            "conditions": len(conditions),
            "frequency": freq,
            "labels_per_image": {str(k): v for k, v in sorted(n_labels.items())},
            "single_label_rows": n_labels[0] + n_labels[1],
            "images_folder": [str(d) for d in self.image_dirs()] or None,
            "images_found": found,
            "images_missing": n - found,
            "official_split_lists": bool(self.official_split()),
        }

    # -- pixels --------------------------------------------------------------------------
    def read(self, pre: Preprocess, ctx: ReadContext) -> dict[str, ImageSet]:
        rows, conditions = self.table()
        present = self.image_index()
        if not present:
            where = ", ".join(str(d) for d in self.image_dirs()) or str(self.folder / "images")
            raise MissingDataError(
                f"{where}: no CXR14 PNG images found for the {len(rows)} CSV rows; put the NIH "
                "images there (or -o images=DIR). "
                f"`radgen data inspect cxr14` works on the CSV alone"
            )
        split_of = self.official_split()
        if self.label_mode == "single":
            class_names = (NO_FINDING, *conditions)
            task = "multiclass"
        else:
            class_names = tuple(conditions)
            task = "multilabel"
        by_split: dict[str, list[Record]] = {}
        missing = 0
        skipped_multi = 0
        for r in rows:
            name = r["Image Index"]
            if name not in present:
                missing += 1
                continue
            findings = split_findings(r["Finding Labels"])
            if self.label_mode == "single":
                if len(findings) > 1:
                    skipped_multi += 1
                    continue
                label: Any = 0 if not findings else 1 + conditions.index(findings[0])
            else:
                label = np.array([c in findings for c in conditions], dtype=np.float32)
            extra = {k: r.get(k, "") for k in ("View Position", "Patient Age", "Patient Gender", "Follow-up #")}
            split = split_of.get(name, "train") if split_of else "train"
            by_split.setdefault(split, []).append(
                Record(
                    str(present[name]),
                    label,
                    f"cxr14-{r['Patient ID']}",
                    {k.lower().replace(" ", "_").replace("#", "n"): v for k, v in extra.items()},
                )
            )
        if missing:
            ctx.notes.append(
                f"{missing} of {len(rows)} images named in the CSV are missing from the images "
                "folder; they are not loaded"
            )
        if skipped_multi:
            ctx.notes.append(f"label_mode=single: {skipped_multi} rows with more than one finding were left out")
        ctx.info["images_missing"] = missing

        def decode(rec: Record):
            return decode_image(rec.path, target_size=pre.size if pre.crop == "none" else None)

        return {
            s: decode_records(recs, decode, pre, ctx, class_names=class_names, task=task, desc=f"cxr14/{s}")
            for s, recs in by_split.items()
        }
