"""Lightning's experiment loggers by one switch: ``train.logger: none | csv | tensorboard | mlflow`` (or a list).

``metrics.jsonl`` in the run folder stays the source of truth (resume, reports and evaluation read it); the
loggers receive the same epoch rows (every scalar term, at the global step the epoch ended on, Lightning's
x-axis) and the sample grids: TensorBoard as images, MLflow as artifacts; the CSV logger takes scalars only.
Every logger writes inside the run folder (``RUN/logs/<logger>/``; MLflow's tracking URI is
``file:RUN/logs/mlflow`` unless ``MLFLOW_TRACKING_URI`` names a server), so a run still writes nothing outside
its output folder. MLflow gets the names with dots for slashes (``train.loss.total``): its file store keeps a
metric per file, so ``val/loss`` and ``val/loss/recon`` cannot both exist. TensorBoard and MLflow are optional
extras (``pip install 'radgen[loggers]'``); asking for one that is not installed is refused before the run
folder is made.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from radgen.errors import ConfigError

LOGGERS = ("none", "csv", "tensorboard", "mlflow")
_NEEDS = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",)}


def logger_names(value: Any) -> list[str]:
    """``train.logger`` as a list of logger names (``none`` and an empty list mean no logger); checks them."""
    names = [value] if isinstance(value, str) or value is None else list(value)
    names = [str(n) for n in names if n not in (None, "none")]
    bad = [n for n in names if n not in LOGGERS]
    if bad:
        raise ConfigError(f"train.logger={bad[0]!r}; valid: {', '.join(LOGGERS)} (or a list of them)")
    for n in names:
        if n in _NEEDS and not any(importlib.util.find_spec(m) for m in _NEEDS[n]):
            raise ConfigError(
                f"train.logger={n} needs the {_NEEDS[n][0]} package: pip install 'radgen[loggers]' "
                f"(or pip install {_NEEDS[n][0]})"
            )
    return list(dict.fromkeys(names))


def build_loggers(value: Any, run_dir: Path) -> list:
    """Lightning logger objects for ``train.logger``, each writing under ``run_dir/logs``."""
    names = logger_names(value)
    out = []
    root = Path(run_dir) / "logs"
    for n in names:
        if n == "csv":
            from lightning.pytorch.loggers import CSVLogger

            out.append(CSVLogger(save_dir=str(root), name="csv", version=""))
        elif n == "tensorboard":
            from lightning.pytorch.loggers import TensorBoardLogger

            out.append(TensorBoardLogger(save_dir=str(root), name="tensorboard", version="", default_hp_metric=False))
        elif n == "mlflow":
            from lightning.pytorch.loggers import MLFlowLogger

            uri = os.environ.get("MLFLOW_TRACKING_URI") or (root / "mlflow").resolve().as_uri()
            if uri.startswith("file:"):  # MLflow 3 keeps local file stores behind this opt-in; radgen's is per run
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            out.append(MLFlowLogger(experiment_name="radgen", run_name=Path(run_dir).name, tracking_uri=uri))
    return out


def log_epoch(loggers: list, row: dict[str, Any], *, step: int) -> None:
    """Every scalar of an epoch row of ``metrics.jsonl`` (``epoch`` included) to every logger, at ``step``."""
    scalars = {
        k: float(v) for k, v in row.items() if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    from lightning.pytorch.loggers import MLFlowLogger

    for lg in loggers:
        if isinstance(lg, MLFlowLogger):  # its file store keeps a metric per file: "val/loss" vs "val/loss/recon"
            lg.log_metrics({k.replace("/", "."): v for k, v in scalars.items()}, step=step)
        else:
            lg.log_metrics(scalars, step=step)
        lg.save()


def log_image(loggers: list, tag: str, path: Path, *, step: int) -> None:
    """A sample grid (a PNG radgen wrote) to the loggers that take images: TensorBoard, MLflow."""
    from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger

    for lg in loggers:
        if isinstance(lg, TensorBoardLogger):
            import numpy as np
            from PIL import Image

            img = np.asarray(Image.open(path).convert("RGB"))  # (H, W, 3) uint8
            lg.experiment.add_image(tag, img, global_step=step, dataformats="HWC")
            lg.experiment.flush()
        elif isinstance(lg, MLFlowLogger):
            lg.experiment.log_artifact(lg.run_id, str(path), artifact_path="samples")
