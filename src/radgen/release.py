"""``radgen release RUN --n N --out DIR``: a synthetic dataset to hand on, together with its own audit.

medigan ships generators with metadata and CheXGenBench releases SynthCheX-75K; neither ships the
synthetic images with the evidence a recipient needs to judge them. A radgen release holds:

- the images in the Kaggle folder layout, ``DIR/{train,val,test}/<class>/synthetic_NNNNN.png``
  (what ``radgen data inspect image_folder --path DIR`` and every class-folder loader read), and as a
  MedMNIST-style ``DIR/<name>.npz`` (``{split}_images`` uint8 (N, H, W) or (N, H, W, 3),
  ``{split}_labels`` (N, 1)); with ``formats`` including ``dicom``, one DICOM file per image under
  ``DIR/dicom/`` (Secondary Capture, ImageType DERIVED\\SECONDARY, ConversionType SYN, no patient
  identifiers, a SeriesDescription and ImageComments that say the image is synthetic and name the generator);
- ``DATASHEET.md`` and ``datasheet.json``: the generator (model, config, weights sha256), the real data it
  learned from (dataset, image and patient counts, the sha256 of the run's split manifest), its training
  budget, the run's latest evaluation (floor and per-class numbers where it has them), a memorization audit
  of the released images, the utility verdict of an augmentation run when one is given, radgen's version
  and the intended use;
- ``SHA256SUMS``: every released file's sha256 (the datasheet records this file's own hash).

The privacy audit (``radgen.privacy_gate``) runs on the images to release before anything is written: a copy
audit against every training image (flips, shifts up to 4 px, small crops and brightness/contrast changes do not
hide a copy; the threshold calibrated on the run's held-out split at 1 % false positives; deterministic) and
membership inference (black box on the images, model based beside). The release is refused, unless ``force``,
when the copy audit flags more images than a novel generator would, or the black-box membership-inference AUC
exceeds its bound; every audit, refusals included, is appended to ``RUN/privacy_audits.jsonl`` and listed in the
datasheet, with the run's differential-privacy record (epsilon spent) when it trained with ``train.privacy``.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radgen import __version__
from radgen import runfolder as rf
from radgen.data.arrays import RELEASE_FORMAT, RELEASE_KEY
from radgen.errors import ConfigError, RadgenError
from radgen.io import sha256_file

FORMATS = ("png", "npz", "dicom")
SPLIT_NAMES = ("train", "val", "test")
INTENDED_USE = (
    "Synthetic images for method development, teaching and augmentation studies. They are not images of "
    "real patients and carry no diagnosis; do not use them to diagnose, to validate a clinical device, or as "
    "a substitute for real data in any clinical decision. Utility for a given task must be measured on real "
    "held-out data (see the augmentation verdict below, when given)."
)


class ReleaseRefused(RadgenError):
    """The privacy audit refused the release (copies or membership inference; pass --force to release anyway)."""


def split_counts(n: int, fractions: tuple[float, float, float]) -> dict[str, int]:
    """``n`` images over train/val/test by largest remainder (the counts add up to ``n``)."""
    raw = [n * f for f in fractions]
    counts = [math.floor(r) for r in raw]
    for i in sorted(range(3), key=lambda i: raw[i] - counts[i], reverse=True)[: n - sum(counts)]:
        counts[i] += 1
    return dict(zip(SPLIT_NAMES, counts))


def class_counts(n: int, proportions: dict[int, float]) -> dict[int, int]:
    """``n`` images over classes in ``proportions`` by largest remainder."""
    keys = sorted(proportions)
    total = sum(proportions.values())
    raw = {k: n * proportions[k] / total for k in keys}
    counts = {k: math.floor(raw[k]) for k in keys}
    for k in sorted(keys, key=lambda k: raw[k] - counts[k], reverse=True)[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def _check_options(n: int, formats: tuple[str, ...], fractions: tuple[float, float, float]) -> None:
    if n < 1:
        raise ConfigError(f"--n {n} must be at least 1")
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ConfigError(f"--format {','.join(bad) or '(none)'}: choose from {', '.join(FORMATS)}")
    if (
        len(fractions) != 3
        or not all(math.isfinite(f) and f >= 0 for f in fractions)
        or abs(sum(fractions) - 1) > 1e-6
    ):
        raise ConfigError(f"--splits {fractions}: three non-negative fractions (train, val, test) that add up to 1")


def _audit(model, fake: torch.Tensor, train, heldout, *, heldout_split: str) -> dict[str, Any]:
    """The privacy audit of the images to release (``radgen.privacy_gate``): the calibrated copy audit against
    every training image and membership inference; ``memorization_audit`` keeps the keys older readers use."""
    from radgen.privacy_gate import privacy_audit

    result = privacy_audit(model, fake, train, heldout, heldout_split=heldout_split)
    a = result["copy_audit"]
    result["memorization_audit"] = {
        **a,
        "nominal_rate": a["nominal_false_positive_rate"],
        "refuse_above": a["refuse_above_fraction"],
        "n_train_reference": a["n_train_searched"],
    }
    return result


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it is inside it, else its name (no local path leaves the machine)."""
    path, root = Path(path).resolve(), Path(root).resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def _utility(augment_dir: Path | None) -> dict[str, Any] | None:
    if augment_dir is None:
        return None
    path = Path(augment_dir) / rf.AUGMENT_RESULTS
    if not path.is_file():
        raise ConfigError(f"--augment {augment_dir}: no results.json; pass the folder `radgen augment` wrote")
    res = json.loads(path.read_text())
    return {
        "augment_run": Path(augment_dir).resolve().name,  # the folder's name: no local path in a release
        "results_sha256": sha256_file(path),
        "trial": res.get("trial"),  # the pre-registered verdicts (radgen augment's trial design)
        "summary": res.get("summary", res),
    }


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    arr = (images.clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)  # (N, C, H, W)
    return arr[:, 0] if arr.shape[1] == 1 else arr.transpose(0, 2, 3, 1)  # (N, H, W) or (N, H, W, 3)


def _write_png(arr: np.ndarray, path: Path, *, weights_sha256: str = "") -> None:
    """One PNG that says it is synthetic in its text chunks (``Software``, ``Description``, and
    ``radgen:generator_sha256``), so a copy taken out of the release still says so."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", f"radgen {__version__}")
    info.add_text("Description", "SYNTHETIC image generated by radgen; not an image of a real patient")
    info.add_text("radgen:generator_sha256", weights_sha256)
    Image.fromarray(arr, mode="L" if arr.ndim == 2 else "RGB").save(path, pnginfo=info)


def _write_dicom(arr: np.ndarray, path: Path, *, generator: str, series_uid: str, study_uid: str, number: int) -> None:
    """One Secondary Capture DICOM file that says it is synthetic, with no patient identifiers.

    The SOP Instance UID is derived from the release's series UID (itself from a nonce drawn per release), the
    instance number and the pixels, so no two released images share one, within or across releases. The SOP
    Common module's Synthetic Data (0008,001C) is YES; the General Image and General Series modules' type 2C
    Patient Orientation and Laterality are present and empty (no anatomy is asserted), as dciodvfy requires."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    pixels = np.ascontiguousarray(arr).tobytes()
    sop_uid = generate_uid(entropy_srcs=[series_uid, str(number), hashlib.sha256(pixels).hexdigest()])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    text = f"{generator} {__version__}"
    if not text.isascii():  # a non-ASCII run name: say the text is UTF-8 (PS3.3 C.12.1.1.2)
        ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, sop_uid
    ds.SyntheticData = "YES"  # SOP Common (0008,001C)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "", "", "", ""  # type 2: present, empty
    ds.StudyDate = ds.StudyTime = ds.AccessionNumber = ds.ReferringPhysicianName = ds.StudyID = ""
    ds.Modality = "OT"
    ds.PatientOrientation = ""  # type 2C, empty: no orientation is asserted
    ds.Laterality = ""  # type 2C, empty: no laterality is asserted
    ds.ConversionType = "SYN"  # Secondary Capture: synthetic image
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = "NO"
    ds.SeriesNumber, ds.InstanceNumber = 1, number
    ds.SeriesDescription = f"SYNTHETIC image generated by radgen ({generator})"[:64]
    ds.ImageComments = (
        f"Synthetic image, not a real patient: generated by radgen {__version__}, generator {generator}."
    )
    rgb = arr.ndim == 3
    ds.SamplesPerPixel = 3 if rgb else 1
    ds.PhotometricInterpretation = "RGB" if rgb else "MONOCHROME2"
    if rgb:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = arr.shape[:2]
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = pixels
    ds.save_as(path, enforce_file_format=True)


# What a release must say about the real data it derives from (Gebru et al. 2021, "Datasheets for Datasets";
# CC BY 4.0 requires the attribution). Keyed by radgen's dataset names; others get UPSTREAM_UNKNOWN.
_KERMANY = {
    "name": "Kermany et al. 2018 chest X-rays (Guangzhou Women and Children's Medical Center)",
    "population": "paediatric patients aged one to five years",
    "license": "cc-by-4.0",
    "license_text": "CC BY 4.0",
    "citation": "Kermany D.S. et al., Cell 172(5):1122-1131, 2018",
}
UPSTREAM: dict[str, dict[str, str]] = {
    "pneumoniamnist": {**_KERMANY, "name": "PneumoniaMNIST (MedMNIST v2, Yang et al. 2023) of " + _KERMANY["name"]},
    "chest_xray_folder": _KERMANY,
    "chest_xray_full_64": _KERMANY,
    "chest_xray_64": _KERMANY,
    "chest_xray_128": _KERMANY,
    "cxr14": {
        "name": "NIH ChestX-ray14 (Wang et al. 2017)",
        "population": "adult and paediatric patients of the NIH Clinical Center",
        "license": "other",
        "license_text": "the NIH Clinical Center's terms (no restriction on use; acknowledge the NIH Clinical Center)",
        "citation": "Wang X. et al., CVPR 2017",
    },
}
UPSTREAM_UNKNOWN = {
    "name": "the run's dataset (not one radgen knows the source of)",
    "population": "not recorded",
    "license": "unknown",
    "license_text": "unknown: check the source data's license before sharing",
    "citation": "the source dataset's own",
}


def _size_category(n: int) -> str:
    """Hugging Face's size_categories bucket of ``n`` items."""
    for top, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < top:
            return label
    return "n>1M"


def _card_front_matter(sheet: dict[str, Any], upstream: dict[str, str]) -> list[str]:
    """YAML front matter that makes DATASHEET.md a Hugging Face dataset card (``DatasetCard.load`` reads it)."""
    import yaml

    meta = {
        "pretty_name": sheet["name"],
        "license": upstream["license"],
        "task_categories": ["image-classification"],
        "tags": ["synthetic", "medical", "radgen"],
        "size_categories": [_size_category(int(sheet["n"]))],
        "source_datasets": [sheet["real_data"]["dataset"]],
    }
    return ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", ""]


def _datasheet_md(sheet: dict[str, Any]) -> str:
    from radgen.reports.markdown import code, text

    g, d, a = sheet["generator"], sheet["real_data"], sheet["memorization_audit"]
    upstream = UPSTREAM.get(d["dataset"], UPSTREAM_UNKNOWN)
    lines = [
        *_card_front_matter(sheet, upstream),
        f"# Datasheet: {text(sheet['name'])}",
        "",
        f"Synthetic image dataset released by radgen {text(sheet['radgen_version'])} on {sheet['created']}.",
        "",
        "## Intended use",
        "",
        text(sheet["intended_use"]),
        "",
        "## Contents",
        "",
        "| split | " + " | ".join(text(c) for c in sheet["class_names"]) + " | total |",
        "|---|" + "---|" * (len(sheet["class_names"]) + 1),
    ]
    for split, row in sheet["counts"].items():
        cells = [str(row.get(c, 0)) for c in sheet["class_names"]]
        lines.append(f"| {split} | " + " | ".join(cells) + f" | {sum(row.values())} |")
    lines += [
        "",
        f"Image size {sheet['image_size']} x {sheet['image_size']} px, {sheet['channels']} channel(s), 8-bit. "
        f"Formats: {', '.join(sheet['formats'])}. File hashes: `SHA256SUMS` lists every released file, this "
        "datasheet and `datasheet.json` included. Every PNG says it is synthetic in its text chunks "
        "(`Description`, `radgen:generator_sha256`); every DICOM file in Synthetic Data (0008,001C) = YES.",
    ]
    renamed = {c: f for c, f in sheet.get("class_folders", {}).items() if c != f}
    if renamed:  # class names that could not be folder names as they were
        lines += [
            "",
            "Class folders renamed: " + "; ".join(f"{text(c)} -> {code(f)}" for c, f in renamed.items()) + ".",
        ]
    lines += [
        "",
        "## Data fields",
        "",
        "- `image`: a synthetic greyscale (or RGB) image, 8-bit, in the folder layout `{split}/{class}/` and in "
        f"the `.npz` as `{{split}}_images`; `label`: the class index (`{{split}}_labels`, order: "
        f"{', '.join(text(c) for c in sheet['class_names'])}).",
        "- The labels are the classes the generator was **conditioned on** when it drew each image, not a "
        "diagnosis of any person, and not checked by a reader: a synthetic image may not show its class.",
        "",
        "## Source data, license and citation",
        "",
        f"- Upstream data: {text(upstream['name'])}; population: {text(upstream['population'])}.",
        f"- Upstream license: {text(upstream['license_text'])}. This release is derived from it: keep the "
        "attribution below when you share it.",
        f"- Cite: {text(upstream['citation'])}; and radgen.",
        f"- Preprocessing before training: {text(d.get('preprocessing') or 'as the run config states')}.",
        "",
        "## Limitations and biases",
        "",
        "- The images inherit the upstream population's make-up (site, age, devices, class balance) and the "
        "generator's failures (blur, missing fine structure, mode collapse); the evaluation below measures some.",
        "- Whether the images help a task is measured, not assumed: see Utility.",
        "- The memorization audit and membership inference bound, but do not exclude, the disclosure of training "
        "images; only differentially private training gives a guarantee.",
        "",
        "## Generator",
        "",
        f"- model: {code(g['model'])} ({g['parameters']:,} parameters), run {code(g['run'])}",
        f"- weights: `weights.safetensors` sha256 {code(g['weights_sha256'])}",
        f"- losses: {text(g['losses'] or 'not recorded')}",
        f"- training budget: {g['budget'].get('epochs')} epoch(s), {g['budget'].get('steps')} optimizer step(s), "
        f"{g['budget'].get('train_seconds')} s",
        f"- sampling: seed {sheet['seed']}, class mix of the training split",
        "",
        "## Real data it learned from",
        "",
        f"- dataset: {code(d['dataset'])}; training images {d['train_images']:,}, patients {d['train_patients']}",
        f"- split manifest: sha256 {code(d['split_manifest_sha256'])} ({text(d['split_manifest_source'])})",
        *(
            [
                "- **the training data changed since the run was trained** "
                f"({text(d['changed_since_training']['changed'])}); "
                "released with --allow-changed-data"
            ]
            if d.get("changed_since_training")
            else []
        ),
        "",
        f"Memorization: {a['n_flagged']} of {a['n_generated']} images flagged as copies "
        f"({a['fraction_flagged']:.1%}; nominal {a['nominal_rate']:.0%})"
        + (f" — **released with --force** over: {text(sheet['forced_over'])}" if sheet["forced"] else "")
        + "; details in the Privacy section.",
        "",
        *_privacy_lines(sheet),
        "## Evaluation",
        "",
    ]
    ev = sheet["evaluation"]
    if ev is None:
        lines.append("Not evaluated: run `radgen evaluate RUN` before releasing to include fidelity numbers.")
    else:
        lines.append(f"From {code(ev['file'])} (sha256 {code(ev['sha256'])}):")
        lines += ["", "```json", json.dumps(ev["summary"], indent=1)[:6000], "```"]
    lines += ["", "## Utility", ""]
    if sheet["utility"] is None:
        lines.append("No augmentation run was given (`radgen release ... --augment AUGMENT_RUN`).")
    else:
        lines.append(f"From {code(sheet['utility']['augment_run'])}:")
        from radgen.reports.augment import trial_markdown

        verdicts = trial_markdown(sheet["utility"].get("trial"), list(sheet["class_names"]))
        lines += ["", *verdicts] if verdicts else []  # the verdicts whole, before any cut
        summary = json.dumps(sheet["utility"]["summary"], indent=1)
        cut = len(summary) > 6000
        lines += ["", "```json", summary[:6000], "```"]
        if cut:
            lines.append(
                f"(the summary is cut at 6,000 of {len(summary):,} characters; `datasheet.json` holds it whole)"
            )
    return "\n".join(lines) + "\n"


def _privacy_lines(sheet: dict[str, Any]) -> list[str]:
    from radgen.privacy_gate import datasheet_lines

    return datasheet_lines(sheet)


def _evaluation_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The numbers a recipient needs: every scalar and interval, without arrays or per-image lists."""

    def keep(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: keep(x) for k, x in v.items() if not (isinstance(x, list) and len(x) > 8)}
        return v

    return keep({k: v for k, v in metrics.items() if k not in ("preprocessing",)})


def release(
    run_dir: str | Path,
    *,
    n: int,
    out: str | Path,
    formats: tuple[str, ...] = ("png", "npz"),
    splits: tuple[float, float, float] = (1.0, 0.0, 0.0),
    augment: str | Path | None = None,
    force: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    name: str | None = None,
    progress: bool = True,
    allow_changed_data: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Sample ``n`` images from the run's exported model, audit them and write the release folder ``out``."""
    from radgen.models import load_exported
    from radgen.outputs import check_inside, check_name, safe_folder_names
    from radgen.sampling import assembled_output, check_output, generate

    run_dir = Path(run_dir)
    formats = tuple(dict.fromkeys(formats))
    _check_options(n, formats, splits)
    name = check_name(name or f"synthetic-{run_dir.name}", "--name")
    check_output(out, overwrite)
    model, meta = load_exported(run_dir)
    images, data_info = _real_training_data(run_dir, model, allow_changed_data=allow_changed_data)
    train, heldout = images["train"], images["heldout"]
    class_names = list(data_info["class_names"]) if model.supports_labels else ["unlabelled"]
    folders = safe_folder_names(class_names)  # names read from data never become paths unchecked
    utility = _utility(Path(augment) if augment else None)

    # 1. sample: the training split's class mix, each class its own seed
    if model.supports_labels:
        props = {i: float((train.labels == i).sum()) for i in range(len(class_names))}
        per_class = class_counts(n, {k: v for k, v in props.items() if v > 0})
        parts = [(generate(model, k, label=c, seed=seed + c, progress=progress), c) for c, k in per_class.items() if k]
        fake = torch.cat([p for p, _ in parts])
        labels = torch.cat([torch.full((len(p),), c) for p, c in parts])
    else:
        fake = generate(model, n, seed=seed, progress=progress)
        labels = torch.zeros(n, dtype=torch.long)

    # 2. audit before anything is written; every audit, refused or not, goes to the run's audit log
    from radgen.privacy_gate import append_audit_log, log_entry, refusal_reason, training_privacy

    privacy = _audit(model, fake, train, heldout, heldout_split=data_info["record"]["heldout_split"])
    audit = privacy.pop("memorization_audit")
    why = refusal_reason(privacy)
    refused = why is not None
    decision = "refused" if refused and not force else "released with --force" if refused else "released"
    audit_log = append_audit_log(run_dir, log_entry(privacy, n=n, seed=seed, decision=decision))
    if refused and not force:
        raise ReleaseRefused(
            f"{run_dir}: {why}; nothing was written (the refusal is logged in {run_dir.name}/privacy_audits.jsonl). "
            "Pass --force to release anyway (the datasheet then says so)"
        )

    # 3. assign splits (seeded shuffle, so every split has the class mix)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(fake), generator=g)
    fake, labels = fake[order], labels[order]
    sizes = split_counts(len(fake), splits)
    bounds = np.cumsum([0] + [sizes[s] for s in SPLIT_NAMES])
    arr = _to_uint8(fake)
    lab = labels.numpy().astype(np.int64)

    eval_path, eval_metrics = rf.RunFolder(run_dir).read_latest_evaluation()
    export = rf.RunFolder(run_dir).export
    weights = (export / rf.WEIGHTS) if export.is_dir() else None
    weights = weights or run_dir / rf.WEIGHTS
    generator_name = f"{model.config.name} from run {run_dir.name}"
    weights_sha256 = sha256_file(weights)
    counts: dict[str, dict[str, int]] = {}
    with assembled_output(out, overwrite=overwrite, command="release") as tmp:
        files: list[Path] = []
        study_uid = None
        uid_nonce = secrets.token_hex(16)  # a fresh UID root per release: no two releases share a DICOM UID
        for si, split in enumerate(SPLIT_NAMES):
            lo, hi = int(bounds[si]), int(bounds[si + 1])
            counts[split] = {c: int((lab[lo:hi] == i).sum()) for i, c in enumerate(class_names)}
            if "png" in formats:
                for folder_name in folders:  # every class folder, empty ones too: the layout reads back whole
                    check_inside(tmp, tmp / split / folder_name).mkdir(parents=True, exist_ok=True)
                for i in range(lo, hi):
                    folder = check_inside(tmp, tmp / split / folders[lab[i]])
                    folder.mkdir(parents=True, exist_ok=True)
                    _write_png(arr[i], folder / f"synthetic_{i:05d}.png", weights_sha256=weights_sha256)
                    files.append(folder / f"synthetic_{i:05d}.png")
            if "dicom" in formats:
                from pydicom.uid import generate_uid

                study_uid = study_uid or generate_uid(entropy_srcs=[uid_nonce, "study"])
                for c, cname in enumerate(class_names):
                    series_uid = generate_uid(entropy_srcs=[uid_nonce, split, cname])
                    for i in range(lo, hi):
                        if lab[i] != c:
                            continue
                        folder = check_inside(tmp, tmp / "dicom" / split / folders[c])
                        folder.mkdir(parents=True, exist_ok=True)
                        path = folder / f"synthetic_{i:05d}.dcm"
                        _write_dicom(
                            arr[i],
                            path,
                            generator=generator_name,
                            series_uid=series_uid,
                            study_uid=study_uid,
                            number=i + 1,
                        )
                        files.append(path)
        if "npz" in formats:
            npz = {}
            for si, split in enumerate(SPLIT_NAMES):
                lo, hi = int(bounds[si]), int(bounds[si + 1])
                npz[f"{split}_images"] = arr[lo:hi]
                npz[f"{split}_labels"] = lab[lo:hi].reshape(-1, 1).astype(np.uint8)
            npz[RELEASE_KEY] = np.array(  # a JSON string (no pickle): radgen reads the release back by it
                json.dumps({"format": RELEASE_FORMAT, "name": name, "class_names": class_names, "radgen": __version__})
            )
            np.savez_compressed(tmp / f"{name}.npz", **npz)
            files.append(tmp / f"{name}.npz")
        sheet = {
            "name": name,
            "radgen_version": __version__,
            "created": datetime.now().isoformat(timespec="seconds"),
            "seed": seed,
            "n": len(fake),
            "class_names": class_names,
            "label_index": {c: i for i, c in enumerate(class_names)},
            "class_folders": dict(zip(class_names, folders)),  # the folder each class's images are in
            "counts": counts,
            "splits": dict(zip(SPLIT_NAMES, splits)),
            "image_size": int(model.config.image_size),
            "channels": int(model.config.channels),
            "formats": list(formats),
            "dicom": None if study_uid is None else {"study_instance_uid": study_uid, "synthetic_data": "YES"},
            "generator": {
                "run": run_dir.name,  # the folder's name: a local path never leaves the machine
                "model": model.config.name,
                "config": meta.get("model"),
                "losses": meta.get("losses"),
                "parameters": int(sum(p.numel() for p in model.parameters())),
                "weights_sha256": weights_sha256,
                "budget": rf.training_record(run_dir),
            },
            "real_data": data_info["record"],
            "memorization_audit": audit,
            "privacy": privacy,
            "training_privacy": training_privacy(run_dir),
            "audit_log": audit_log,
            "forced": bool(refused and force),
            "forced_over": why if refused and force else None,
            "evaluation": None
            if eval_metrics is None
            else {
                "file": eval_path.relative_to(run_dir).as_posix()
                if eval_path.is_relative_to(run_dir)
                else eval_path.name,
                "sha256": sha256_file(eval_path),
                "summary": _evaluation_summary(eval_metrics),
            },
            "utility": utility,
            "intended_use": INTENDED_USE,
        }
        (tmp / rf.RELEASE_DATASHEET_JSON).write_text(json.dumps(sheet, indent=1, default=str) + "\n")
        (tmp / rf.RELEASE_DATASHEET).write_text(_datasheet_md(sheet))
        files += [tmp / rf.RELEASE_DATASHEET_JSON, tmp / rf.RELEASE_DATASHEET]  # the datasheet is released too
        sums = "".join(f"{sha256_file(f)}  {f.relative_to(tmp).as_posix()}\n" for f in sorted(files))
        (tmp / rf.RELEASE_SUMS).write_text(sums)
    return Path(out), sheet


def _real_training_data(
    run_dir: Path, model, *, allow_changed_data: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's training split and a held-out split (val, else test), with the record the datasheet keeps; the
    split is compared with the run's manifest (a change refused unless ``allow_changed_data``, then recorded)."""
    from radgen.config import from_dict, load_yaml
    from radgen.data import DataConfig, load_dataset
    from radgen.data.manifest import check_unchanged, manifest_sha256, read_manifest, split_manifest

    cfg_path = rf.RunFolder(run_dir).config
    if not cfg_path.is_file():
        raise ConfigError(f"{run_dir}: no config.yaml; `radgen release` needs a run folder made by `radgen train`")
    try:
        dcfg = from_dict(DataConfig, load_yaml(cfg_path)["data"])
    except (KeyError, TypeError) as exc:
        raise ConfigError(
            f"{cfg_path}: no readable data section ({type(exc).__name__}); is this a run folder?"
        ) from None
    ds = load_dataset(dcfg, progress=False)
    held = next((s for s in ("val", "test") if s in ds and len(ds[s]) >= 20), None)
    if held is None:
        raise ConfigError(f"{run_dir}: its dataset has no validation or test split of 20+ images for the audit")
    train = ds["train"]
    if train.image_size[0] != model.config.image_size or train.channels != model.config.channels:
        raise ConfigError(
            f"{dcfg.name} images are {train.channels}x{train.image_size[0]} px but the model makes "
            f"{model.config.channels}x{model.config.image_size} px"
        )
    manifest = Path(run_dir) / rf.SPLIT_MANIFEST
    changed = check_unchanged(manifest, train, allow=allow_changed_data, run=run_dir)
    recorded = read_manifest(manifest)
    ids = recorded if recorded is not None else split_manifest(train)
    patients = {p for p in train.patients if p}
    record = {
        "dataset": dcfg.name,
        "path": Path(dcfg.path).name if dcfg.path else None,  # the file or folder name, not the local path
        "train_images": len(train),
        "train_patients": len(patients) if patients else "not recorded by the source",
        "heldout_split": held,
        "preprocessing": (
            f"{'resized to ' + str(dcfg.size) + ' px' if dcfg.size else 'stored size'}, {dcfg.channels} channel(s), "
            f"crop {dcfg.crop}, equalization {dcfg.equalize}, pixel values scaled to [0, 1]"
        ),
        "split_manifest_sha256": manifest_sha256(ids),
        "split_manifest_source": "the run's split_manifest.json"
        if recorded is not None
        else "recomputed from the run's data config (the run predates split manifests)",
        "changed_since_training": changed,  # None, or what --allow-changed-data let through
    }
    return {"train": train, "heldout": ds[held]}, {"class_names": ds.class_names, "record": record}
