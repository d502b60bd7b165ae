"""The run folder: its layout and every file name radgen writes or reads in it, in one place.

A training run (``radgen train``)::

  runs/<name>-<YYYYmmdd-HHMMSS>-<4 hex>/   (created exclusively: a run never overwrites another)
    config.yaml        resolved config (seed, data-derived model fields filled in)
    run.json           provenance (git SHA, versions, machine), seed, loss bookkeeping, data counts
    run-resume-<time>.json  the same, for each resume
    metrics.jsonl      one line per epoch: train/* and val/* means, kl_per_dim, active_units
    checkpoints/       best.ckpt (lowest monitored loss), last.ckpt, epoch_NNNN.ckpt (periodic)
    samples/           epoch_NNNN.png every train.sample_every epochs, final.png (+ final_by_class.png)
    reconstructions.png  (VAE family) originals above their reconstructions from mu
    curves.png         per-epoch train (solid) and val (dashed) curves of every loss term
    export/            config.yaml + weights.safetensors of the best checkpoint (safe to share)
    metrics.json       summary: best epoch and loss, epochs run, time per epoch, parameters
    split_manifest.json  the training split's item ids and their sha256 (what a release audits against)
    eval-<time>-<id>/  one per ``radgen evaluate``: metrics.json, metrics.md, memorization.png

A demo folder (``radgen demo``) holds ``demo.json``, ``data.png``, ``generators/<run>/`` and
``augment/``; an augmentation folder holds ``config.yaml``, ``results.jsonl``, ``results.json``,
``summary.md``, ``bars.png`` and ``synthetic_<generator>.{npz,png}``; a reproduction folder
``results.json``, ``table.md`` and ``table.html``; a classify folder ``config.yaml``, ``results.jsonl``,
``results.json``, ``summary.md``, ``test_probs.npz``, ``confusion.png`` and ``roc.png``; a release folder
``DATASHEET.md``, ``datasheet.json`` and ``SHA256SUMS`` beside the images; a report folder ``report.md`` and
``report.html``. Every reader of these files that more than one module needs lives here too: the metrics rows
(``read_metrics``), the run's data (``run_data_config``, ``load_run_data``), its newest evaluation
(``RunFolder.latest_evaluation``, ``read_latest_evaluation``) and the budget it trained (``trained_budget``,
``training_record``). This module imports no torch.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from radgen.io import write_text

# a training run
CONFIG = "config.yaml"
RUN_INFO = "run.json"
RESUME_INFO = "run-resume-{time}.json"
METRICS_LOG = "metrics.jsonl"
SUMMARY = "metrics.json"
CHECKPOINTS = "checkpoints"
BEST = "best"  # checkpoint stems: Lightning adds .ckpt
LAST = "last"
PERIODIC = "epoch_{epoch:04d}"
CHECKPOINT_SUFFIX = ".ckpt"
SAMPLES = "samples"
EPOCH_SAMPLES = "epoch_{epoch:04d}.png"
FINAL_SAMPLES = "final.png"
FINAL_BY_CLASS = "final_by_class.png"
RECONSTRUCTIONS = "reconstructions.png"
CURVES = "curves.png"
EXPORT = "export"
WEIGHTS = "weights.safetensors"  # beside CONFIG in EXPORT
LATENT = "latent"
SPLIT_MANIFEST = "split_manifest.json"  # the training split's item ids (radgen.data.manifest)
# an evaluation, inside a run
EVAL_PREFIX = "eval-"
EVAL_SUMMARY = "metrics.json"
EVAL_MARKDOWN = "metrics.md"
EVAL_MEMORIZATION = "memorization.png"
EVAL_FEATURES = "features.npz"  # per view and extractor seed: reference and generated features (evaluation.ranking)
# a demo folder
DEMO = "demo.json"
DEMO_DATA = "data.png"
DEMO_GENERATORS = "generators"
DEMO_AUGMENT = "augment"
DEMO_SANITY = "sanity.json"  # the sanity appendix under every view (evaluation.sanity)
DEMO_PRIVACY = "privacy"  # --budget full: the DP-trained generators, their trial and the privacy-utility table
DEMO_PRIVACY_RESULTS = "privacy_utility.json"  # inside DEMO_PRIVACY (experiments.privacy_utility)
# an augmentation folder
AUGMENT_LOG = "results.jsonl"
AUGMENT_RESULTS = "results.json"
AUGMENT_SUMMARY = "summary.md"
AUGMENT_BARS = "bars.png"
AUGMENT_POOL = "synthetic_{generator}"  # + .npz (pixels, labels) and .png (grid)
# a classify folder (radgen classify; its config is CONFIG)
CLASSIFY_LOG = "results.jsonl"  # one row per seed, appended as each finishes
CLASSIFY_RESULTS = "results.json"
CLASSIFY_SUMMARY = "summary.md"
CLASSIFY_PROBS = "test_probs.npz"  # (seeds, N, classes) test probabilities and the labels
CLASSIFY_CONFUSION = "confusion.png"
CLASSIFY_ROC = "roc.png"
# a release folder (radgen release)
RELEASE_DATASHEET = "DATASHEET.md"
RELEASE_DATASHEET_JSON = "datasheet.json"
RELEASE_SUMS = "SHA256SUMS"
# a reproduction (radgen reproduce)
REPRODUCE_RESULTS = "results.json"
REPRODUCE_TABLE = "table"  # + .md and .html
# a report
REPORT_MD = "report.md"
REPORT_HTML = "report.html"


def stamp() -> str:
    """The time part of every folder and file name radgen makes unique: ``YYYYmmdd-HHMMSS``."""
    return f"{datetime.now():%Y%m%d-%H%M%S}"


class RunFolder:
    """The paths of one training run's folder (building one creates and reads nothing)."""

    def __init__(self, path: str | Path):
        p = self.path = Path(path)
        self.config, self.run_info, self.metrics_log, self.summary = (
            p / CONFIG,
            p / RUN_INFO,
            p / METRICS_LOG,
            p / SUMMARY,
        )
        self.checkpoints = p / CHECKPOINTS
        self.last_checkpoint = self.checkpoints / (LAST + CHECKPOINT_SUFFIX)
        self.samples = p / SAMPLES
        self.final_samples, self.final_by_class = self.samples / FINAL_SAMPLES, self.samples / FINAL_BY_CLASS
        self.reconstructions, self.curves = p / RECONSTRUCTIONS, p / CURVES
        self.export, self.latent = p / EXPORT, p / LATENT

    def resume_info(self) -> Path:
        return self.path / RESUME_INFO.format(time=stamp())

    def evaluations(self) -> list[Path]:
        """The finished evaluation folders (those with a summary), oldest first."""
        return sorted(p for p in self.path.glob(EVAL_PREFIX + "*") if (p / EVAL_SUMMARY).is_file())

    def latest_evaluation(self) -> Path | None:
        """The run's newest finished evaluation folder; a link (to a folder elsewhere) is never followed."""
        evals = [p for p in self.evaluations() if not p.is_symlink()]
        return evals[-1] if evals else None

    def read_latest_evaluation(self) -> tuple[Path | None, dict[str, Any] | None]:
        """(``metrics.json`` of the newest evaluation, its contents); contents None when unreadable, both None
        when the run has no evaluation."""
        folder = self.latest_evaluation()
        if folder is None:
            return None, None
        path = folder / EVAL_SUMMARY
        try:
            return path, json.loads(path.read_text())
        except (OSError, ValueError):
            return path, None

    def new_evaluation(self) -> Path:
        """A fresh ``eval-<time>-<4 hex>`` folder, created exclusively."""
        return fresh_dir(self.path, EVAL_PREFIX.rstrip("-"))


def export_files(folder: str | Path) -> tuple[Path, Path]:
    """(``config.yaml``, ``weights.safetensors``) of an export: ``folder`` itself, or a run folder's ``export/``."""
    folder = Path(folder)
    if (folder / EXPORT / CONFIG).is_file():
        folder = folder / EXPORT
    return folder / CONFIG, folder / WEIGHTS


def is_evaluation(path: str | Path) -> bool:
    """True when ``path`` is an evaluation folder (``eval-*`` holding metrics.json)."""
    p = Path(path)
    return p.name.startswith(EVAL_PREFIX) and (p / EVAL_SUMMARY).is_file()


def fresh_dir(root: Path, prefix: str) -> Path:
    """A fresh ``root/<prefix>-<time>-<4 hex>`` folder, created exclusively (two callers never share one)."""
    from radgen.errors import OutputError

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError.from_os(exc, root) from exc
    for _ in range(20):
        d = root / f"{prefix}-{stamp()}-{secrets.token_hex(2)}"
        try:
            d.mkdir()  # exclusive: two runs started at once never share a directory
            return d
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError.from_os(exc, d) from exc
    raise RuntimeError(f"could not create a fresh run directory under {root}")


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The per-epoch rows of ``metrics.jsonl`` (a torn last line, from a kill, is ignored)."""
    p = RunFolder(run_dir).metrics_log
    rows = []
    if p.is_file():
        for line in p.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def trained_budget(run_dir: str | Path) -> dict[str, Any]:
    """The budget a run actually trained: epochs x batches per epoch and images seen, from its
    per-epoch rows (``train_batches``, ``train_images``); older runs without them get an estimate
    from the config (batch size, ``limit_train_batches``) and the training split's size."""
    from radgen.config import load_yaml
    from radgen.errors import ConfigError

    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    out: dict[str, Any] = {"epochs": len(rows)}
    if rows and all("train_batches" in r for r in rows):
        out["batches"] = int(sum(r["train_batches"] for r in rows))
        out["images_seen"] = int(sum(r.get("train_images", 0) for r in rows))
        out["source"] = "measured (metrics.jsonl)"
    elif rows and RunFolder(run_dir).config.is_file() and RunFolder(run_dir).run_info.is_file():
        try:  # an edited or damaged file only loses the estimate
            cfg = dict(load_yaml(RunFolder(run_dir).config).get("train") or {})
            split_sizes = dict(json.loads(RunFolder(run_dir).run_info.read_text()).get("data", {}).get("splits", {}))
        except (ConfigError, OSError, ValueError, TypeError, AttributeError):
            cfg, split_sizes = {}, {}
        n_train = split_sizes.get("train")
        n_train = sum(n_train.values()) if isinstance(n_train, dict) else n_train
        bs, limit = int(cfg.get("batch_size", 64)), cfg.get("limit_train_batches")
        if n_train:
            per = math.ceil(n_train / bs)
            if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1:
                per = min(per, limit)
            elif isinstance(limit, float) and limit < 1:
                per = max(1, int(per * limit))
            out["batches"] = per * len(rows)
            out["images_seen"] = min(per * bs, n_train) * len(rows)
            out["source"] = "estimated from config.yaml and the training split's size"
    if out.get("epochs") and out.get("batches") is not None:
        out["batches_per_epoch"] = out["batches"] / out["epochs"]
    return out


def training_record(run_dir: str | Path) -> dict[str, Any]:
    """Epochs, optimizer steps and training seconds as the run recorded them (metrics.json, else the last row of
    metrics.jsonl): what was trained, not asked; the release's datasheet keeps it. ``trained_budget`` is the
    evaluation's view of the same rows (batches and images seen)."""
    rows = read_metrics(run_dir)
    summary = {}
    if RunFolder(run_dir).summary.is_file():
        summary = json.loads(RunFolder(run_dir).summary.read_text())
    last = rows[-1] if rows else {}
    return {
        "epochs": summary.get("epochs_run", last.get("epoch")),
        "steps": last.get("step"),
        "train_seconds": summary.get("train_seconds"),
    }


def trim_metrics(run_dir: str | Path, global_step: int) -> int:
    """Drop ``metrics.jsonl`` rows past the checkpoint a resume starts from (an epoch that
    finished after the last checkpoint, before a kill, is trained again) and a torn last
    line; returns how many lines were dropped."""
    p = RunFolder(run_dir).metrics_log
    if not p.is_file():
        return 0
    lines = p.read_text().splitlines()
    keep = []
    for line in lines:
        try:
            if int(json.loads(line).get("step", 0)) <= global_step:
                keep.append(line)
        except json.JSONDecodeError:
            continue
    if len(keep) != len(lines):
        write_text(p, "".join(line + "\n" for line in keep))
    return len(lines) - len(keep)


def run_data_config(run_dir: str | Path, *, option: str = "--real"):
    """The ``data`` section of a run's ``config.yaml`` (plain YAML only) as a DataConfig. A missing file is a
    MissingDataError, a damaged or edited one a ConfigError naming it; both say to pass ``option DATASET``."""
    from radgen.config import from_dict, load_yaml
    from radgen.data import DataConfig
    from radgen.errors import ConfigError, MissingDataError

    path = RunFolder(run_dir).config
    if not path.is_file():
        raise MissingDataError(
            f"{run_dir}: no {CONFIG}, so the run's dataset is unknown; pass {option} DATASET "
            f"(e.g. {option} pneumoniamnist)"
        )
    data = load_yaml(path)
    if "data" not in data:
        raise ConfigError(f"{path}: no data section; pass {option} DATASET or restore the run's {CONFIG}")
    return from_dict(DataConfig, data["data"], prefix="data.")


@dataclass
class RunData:
    """A run's real images: the data config they were loaded with, all splits, and the chosen one."""

    config: Any  # radgen.data.DataConfig
    splits: Any  # radgen.data.base.DataSplits
    split: str
    images: Any  # radgen.data.base.ImageSet, checked against the model's size and channels


def load_run_data(
    run_dir: str | Path, model, *, data: str | None = None, split: str = "test", option: str = "--data"
) -> RunData:
    """The real images of a run's dataset (its ``config.yaml``), or of the dataset named ``data``
    at the model's size, from ``split`` (falling back to val, then train); refused when their size
    or channels differ from the model's. ``option`` is the command's flag for ``data``, named in errors."""
    from radgen.data import DataConfig, load_dataset
    from radgen.errors import ConfigError

    if split not in ("train", "val", "test"):
        raise ConfigError(f"--split {split!r} is not a split; choose train, val or test")
    size, channels = int(model.config.image_size), int(model.config.channels)
    dcfg = DataConfig(name=data, size=size, channels=channels) if data else run_data_config(run_dir, option=option)
    ds = load_dataset(dcfg, progress=False)
    chosen = next((s for s in (split, "val", "train") if s in ds), None)
    if chosen is None:
        raise ConfigError(f"dataset {dcfg.name!r} has none of the splits {split}, val, train")
    images = ds[chosen]
    if images.image_size[0] != size or images.channels != channels:
        raise ConfigError(
            f"{dcfg.name} {chosen} images are {images.channels}x{images.image_size[0]} px but the model makes "
            f"{channels}x{size} px; pass {option} with a dataset at the model's size"
        )
    return RunData(dcfg, ds, chosen, images)
