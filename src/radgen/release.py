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
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radgen import __version__
from radgen import runfolder as rf
from radgen.errors import ConfigError, RadgenError

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


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError(f"--splits {fractions}: three non-negative fractions (train, val, test) that add up to 1")


def _latest_evaluation(run_dir: Path) -> tuple[Path | None, dict[str, Any] | None]:
    evals = [p for p in rf.RunFolder(run_dir).evaluations() if not p.is_symlink()]
    if not evals:
        return None, None
    path = evals[-1] / rf.EVAL_SUMMARY
    try:
        return path, json.loads(path.read_text())
    except (OSError, ValueError):
        return path, None


def _training_budget(run_dir: Path) -> dict[str, Any]:
    """Epochs, optimizer steps and images seen, from the run's metrics.jsonl (what was trained, not asked)."""
    from radgen.runfolder import read_metrics

    rows = read_metrics(run_dir)
    summary = {}
    if rf.RunFolder(run_dir).summary.is_file():
        summary = json.loads(rf.RunFolder(run_dir).summary.read_text())
    last = rows[-1] if rows else {}
    return {
        "epochs": summary.get("epochs_run", last.get("epoch")),
        "steps": last.get("step"),
        "train_seconds": summary.get("train_seconds"),
    }


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


def _utility(augment_dir: Path | None) -> dict[str, Any] | None:
    if augment_dir is None:
        return None
    path = Path(augment_dir) / rf.AUGMENT_RESULTS
    if not path.is_file():
        raise ConfigError(f"--augment {augment_dir}: no results.json; pass the folder `radgen augment` wrote")
    res = json.loads(path.read_text())
    return {"augment_run": str(augment_dir), "results_sha256": sha256_file(path), "summary": res.get("summary", res)}


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    arr = (images.clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)  # (N, C, H, W)
    return arr[:, 0] if arr.shape[1] == 1 else arr.transpose(0, 2, 3, 1)  # (N, H, W) or (N, H, W, 3)


def _write_png(arr: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(arr, mode="L" if arr.ndim == 2 else "RGB").save(path)


def _write_dicom(arr: np.ndarray, path: Path, *, generator: str, series_uid: str, study_uid: str, number: int) -> None:
    """One Secondary Capture DICOM file that says it is synthetic, with no patient identifiers."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    sop_uid = generate_uid(entropy_srcs=[series_uid, str(number)])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, sop_uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "", "", "", ""  # type 2: present, empty
    ds.StudyDate = ds.StudyTime = ds.AccessionNumber = ds.ReferringPhysicianName = ds.StudyID = ""
    ds.Modality = "OT"
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
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    ds.save_as(path, enforce_file_format=True)


def _datasheet_md(sheet: dict[str, Any]) -> str:
    from radgen.reports.markdown import code, text

    g, d, a = sheet["generator"], sheet["real_data"], sheet["memorization_audit"]
    lines = [
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
        f"Formats: {', '.join(sheet['formats'])}. File hashes: `SHA256SUMS` "
        f"(sha256 {code(sheet['sha256sums_sha256'])}).",
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
        lines += ["", "```json", json.dumps(sheet["utility"]["summary"], indent=1)[:6000], "```"]
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
) -> tuple[Path, dict[str, Any]]:
    """Sample ``n`` images from the run's exported model, audit them and write the release folder ``out``."""
    from radgen.models import load_exported
    from radgen.outputs import check_name
    from radgen.sampling import assembled_output, check_output, generate

    run_dir = Path(run_dir)
    formats = tuple(dict.fromkeys(formats))
    _check_options(n, formats, splits)
    name = check_name(name or f"synthetic-{run_dir.name}", "--name")
    check_output(out, overwrite)
    model, meta = load_exported(run_dir)
    images, data_info = _real_training_data(run_dir, model)
    train, heldout = images["train"], images["heldout"]
    class_names = list(data_info["class_names"]) if model.supports_labels else ["unlabelled"]
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

    eval_path, eval_metrics = _latest_evaluation(run_dir)
    export = rf.RunFolder(run_dir).export
    weights = (export / rf.WEIGHTS) if export.is_dir() else None
    weights = weights or run_dir / rf.WEIGHTS
    generator_name = f"{model.config.name} from run {run_dir.name}"
    counts: dict[str, dict[str, int]] = {}
    with assembled_output(out, overwrite=overwrite, command="release") as tmp:
        files: list[Path] = []
        study_uid = None
        for si, split in enumerate(SPLIT_NAMES):
            lo, hi = int(bounds[si]), int(bounds[si + 1])
            counts[split] = {c: int((lab[lo:hi] == i).sum()) for i, c in enumerate(class_names)}
            if "png" in formats:
                for i in range(lo, hi):
                    folder = tmp / split / class_names[lab[i]]
                    folder.mkdir(parents=True, exist_ok=True)
                    _write_png(arr[i], folder / f"synthetic_{i:05d}.png")
                    files.append(folder / f"synthetic_{i:05d}.png")
            if "dicom" in formats:
                from pydicom.uid import generate_uid

                study_uid = study_uid or generate_uid(entropy_srcs=[name, str(seed), "study"])
                for c, cname in enumerate(class_names):
                    series_uid = generate_uid(entropy_srcs=[name, str(seed), split, cname])
                    for i in range(lo, hi):
                        if lab[i] != c:
                            continue
                        folder = tmp / "dicom" / split / cname
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
            np.savez_compressed(tmp / f"{name}.npz", **npz)
            files.append(tmp / f"{name}.npz")
        sums = "".join(f"{sha256_file(f)}  {f.relative_to(tmp).as_posix()}\n" for f in sorted(files))
        (tmp / "SHA256SUMS").write_text(sums)
        sheet = {
            "name": name,
            "radgen_version": __version__,
            "created": datetime.now().isoformat(timespec="seconds"),
            "seed": seed,
            "n": len(fake),
            "class_names": class_names,
            "label_index": {c: i for i, c in enumerate(class_names)},
            "counts": counts,
            "splits": dict(zip(SPLIT_NAMES, splits)),
            "image_size": int(model.config.image_size),
            "channels": int(model.config.channels),
            "formats": list(formats),
            "sha256sums_sha256": hashlib.sha256(sums.encode()).hexdigest(),
            "generator": {
                "run": str(run_dir),
                "model": model.config.name,
                "config": meta.get("model"),
                "losses": meta.get("losses"),
                "parameters": int(sum(p.numel() for p in model.parameters())),
                "weights_sha256": sha256_file(weights),
                "budget": _training_budget(run_dir),
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
                "file": str(eval_path),
                "sha256": sha256_file(eval_path),
                "summary": _evaluation_summary(eval_metrics),
            },
            "utility": utility,
            "intended_use": INTENDED_USE,
        }
        (tmp / "datasheet.json").write_text(json.dumps(sheet, indent=1, default=str) + "\n")
        (tmp / "DATASHEET.md").write_text(_datasheet_md(sheet))
    return Path(out), sheet


def _real_training_data(run_dir: Path, model) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's training split and a held-out split (val, else test), with the record the datasheet keeps."""
    from radgen.config import from_dict, load_yaml
    from radgen.data import DataConfig, load_dataset
    from radgen.data.manifest import manifest_sha256, read_manifest, split_manifest

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
    recorded = read_manifest(run_dir)
    ids = recorded if recorded is not None else split_manifest(train)
    patients = {p for p in train.patients if p}
    record = {
        "dataset": dcfg.name,
        "path": str(dcfg.path) if dcfg.path else None,
        "train_images": len(train),
        "train_patients": len(patients) if patients else "not recorded by the source",
        "heldout_split": held,
        "split_manifest_sha256": manifest_sha256(ids),
        "split_manifest_source": "the run's split_manifest.json"
        if recorded is not None
        else "recomputed from the run's data config (the run predates split manifests)",
    }
    return {"train": train, "heldout": ds[held]}, {"class_names": ds.class_names, "record": record}
