"""Lightning's experiment loggers by one switch: ``train.logger: none | csv | tensorboard | mlflow`` (or a list).

``metrics.jsonl`` in the run folder stays the source of truth (resume, reports and evaluation read it); the
loggers receive the same epoch rows (every scalar term, at the global step the epoch ended on, Lightning's
x-axis) and the sample grids: TensorBoard as images, MLflow as artifacts; the CSV logger takes scalars only.
Every logger writes inside the run folder (``RUN/logs/<logger>/``; MLflow's tracking URI is
``sqlite:///RUN/logs/mlflow.db``, a store ``MlflowClient().search_runs`` reads back, unless
``MLFLOW_TRACKING_URI`` names another), so a run still writes nothing outside its output folder. The loggers get
one row per epoch (radgen's ``self.log`` calls feed the progress bar and the checkpoint monitor only) and the
resolved config as hyperparameters (MLflow params, TensorBoard hparams). MLflow gets the names with dots for
slashes (``train.loss.total``): its file store keeps a metric per file, so ``val/loss`` and ``val/loss/recon``
cannot both exist. A tracking server named by ``MLFLOW_TRACKING_URI`` is reached before the run starts (a
refusal in one line within seconds, never a 4-minute retry loop), and a URI is never printed with its
credentials. TensorBoard and MLflow are optional extras (``pip install 'radgen[loggers]'``); asking for one that
is not installed is refused before the run folder is made.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from radgen.errors import ConfigError

LOGGERS = ("none", "csv", "tensorboard", "mlflow")
_NEEDS = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",)}
CONNECT_TIMEOUT = 10.0  # seconds to reach a tracking server before the run is refused


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
    if "mlflow" in names:
        check_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI"))
    return list(dict.fromkeys(names))


def redact_uri(uri: str) -> str:
    """``uri`` without the secret of its user-info part (``http://user:***@host``; a lone token: ``***@host``)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<tracking URI>"
    if parts.password is None and "@" not in parts.netloc:
        return uri
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username if parts.password is not None else None  # a lone user part may be a token: hidden too
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}" if user else f"***@{host}"))


def check_tracking_uri(uri: str | None, *, timeout: float = CONNECT_TIMEOUT) -> None:
    """Refuse, in one line naming the URI without its password, an MLflow tracking URI that cannot work: an
    http(s) server that does not accept a connection within ``timeout`` seconds, or a database URI whose driver
    (SQLAlchemy) is not installed. Also bounds MLflow's own HTTP retries (``MLFLOW_HTTP_REQUEST_*``, unless
    set), so a server that goes away later fails in seconds, not after minutes of retries."""
    if not uri:
        return
    from urllib.parse import urlsplit

    shown = redact_uri(uri)
    scheme = uri.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        import socket

        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(timeout)))
        parts = urlsplit(uri)
        try:
            port = parts.port or (443 if scheme == "https" else 80)
            with socket.create_connection((parts.hostname or "", port), timeout=timeout):
                pass
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConfigError(
                f"MLFLOW_TRACKING_URI={shown}: the tracking server cannot be reached ({reason}); start it, fix "
                "MLFLOW_TRACKING_URI, or unset it to log into the run folder (train.logger=mlflow)"
            ) from None
    elif scheme in ("sqlite", "postgresql", "mysql", "mssql") and importlib.util.find_spec("sqlalchemy") is None:
        raise ConfigError(
            f"MLFLOW_TRACKING_URI={shown}: a database store needs SQLAlchemy and alembic: "
            "pip install 'radgen[loggers]'"
        )


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) or v is None else str(v)
    return out


def log_config(loggers: list, config: dict[str, Any]) -> None:
    """The resolved run config, flattened to dotted keys (``train.lr``), as every logger's hyperparameters."""
    params = _flat(config)
    for lg in loggers:
        lg.log_hyperparams(params)


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

            uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(root / 'mlflow.db').resolve()}"
            if uri.startswith("sqlite:///"):
                Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            if uri.startswith("file:"):  # a user's file store: MLflow 3 keeps those behind this opt-in
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            own = "MLFLOW_TRACKING_URI" not in os.environ  # radgen's store: its artifacts stay in the run folder too
            out.append(
                MLFlowLogger(
                    experiment_name="radgen",
                    run_name=Path(run_dir).name,
                    tracking_uri=uri,
                    artifact_location=(root / "mlflow-artifacts").resolve().as_uri() if own else None,
                )
            )
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
