"""train.logger (issue 22): Lightning's CSV, TensorBoard and MLflow loggers get the epoch rows of metrics.jsonl
(and the sample grids where they take images), all under the run folder; unknown or missing loggers are refused
before anything is written. Every run also writes its split manifest (the sorted training item ids)."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os

import pytest

from radgen.errors import ConfigError
from radgen.training.config import load_run_config
from radgen.training.run import read_metrics, train


def tiny(tmp_path, *extra):
    return load_run_config(
        "tiny",
        [
            f"output_dir={tmp_path}/runs",
            "train.epochs=2",
            "train.limit_train_batches=3",
            "train.sample_every=1",
            "train.checkpoint_every=0",
            "seed=0",
            *extra,
        ],
    )


def test_csv_logger_gets_the_epoch_rows_and_the_manifest_is_written(tmp_path, data_dir):
    res = train(tiny(tmp_path, "train.logger=csv"), progress=False)
    rows = read_metrics(res.run_dir)
    with open(res.run_dir / "logs" / "csv" / "metrics.csv") as f:  # one row per epoch, nothing else
        logged = list(csv.DictReader(f))
    assert [int(r["step"]) for r in logged] == [r["step"] for r in rows] == [3, 6]  # 3 batches per epoch
    assert [r["epoch"] for r in logged] == ["1.0", "2.0"]  # 1-based, as metrics.jsonl
    for got, want in zip(logged, rows):
        assert float(got["train/loss/total"]) == pytest.approx(want["train/loss/total"], rel=1e-6)
    manifest = json.loads((res.run_dir / "split_manifest.json").read_text())
    ids = manifest["ids"]
    assert manifest["n"] == len(ids) == len(res.data["train"]) and ids == sorted(ids)
    digest = hashlib.sha256("".join(f"{i}\n" for i in ids).encode()).hexdigest()
    run_info = json.loads((res.run_dir / "run.json").read_text())
    assert manifest["sha256"] == digest == run_info["data"]["split_manifest_sha256"]
    assert not set(ids) & set(res.data["val"].paths)  # the carved validation items are not training items


@pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None, reason="tensorboard not installed (radgen[loggers])"
)
def test_tensorboard_logger_gets_scalars_and_the_sample_grids(tmp_path, data_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    res = train(tiny(tmp_path, "train.logger=tensorboard"), progress=False)
    acc = EventAccumulator(str(res.run_dir / "logs" / "tensorboard"))
    acc.Reload()
    rows = read_metrics(res.run_dir)
    got = [(e.step, e.value) for e in acc.Scalars("train/loss/total")]
    assert [s for s, _ in got] == [3, 6]
    assert [v for _, v in got] == pytest.approx([r["train/loss/total"] for r in rows], rel=1e-5)
    assert [e.step for e in acc.Images("samples")] == [3, 6]


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow not installed (radgen[loggers])")
def test_mlflow_logger_keeps_metrics_and_grids_inside_the_run_folder(tmp_path, data_dir, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is ./mlruns: nothing may appear there

    os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)  # the default store must read back without the opt-in
    res = train(tiny(tmp_path, "train.logger=[csv,mlflow]"), progress=False)
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{res.run_dir / 'logs' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("radgen")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.params["train.epochs"] == "2" and run.data.params["model.name"] == "vae"  # the resolved config
    hist = client.get_metric_history(run.info.run_id, "train.loss.total")
    assert sorted(m.step for m in hist) == [3, 6]
    assert {a.path for a in client.list_artifacts(run.info.run_id, "samples")} == {
        "samples/epoch_0001.png",
        "samples/epoch_0002.png",
    }
    assert (res.run_dir / "logs" / "csv" / "metrics.csv").is_file()
    assert len(list((res.run_dir / "logs" / "mlflow-artifacts").rglob("epoch_0002.png"))) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_unknown_logger_is_refused_when_the_config_is_read(tmp_path):
    with pytest.raises(ConfigError, match=r"train.logger='wandb'; valid: none, csv, tensorboard, mlflow"):
        tiny(tmp_path, "train.logger=wandb")
    assert not (tmp_path / "runs").exists()


def test_a_tracking_uri_is_never_shown_with_its_password():
    from radgen.training.loggers import redact_uri

    assert redact_uri("http://user:secret@127.0.0.1:9/x") == "http://user:***@127.0.0.1:9/x"
    assert redact_uri("https://token@host") == "https://***@host"
    assert redact_uri("sqlite:///tmp/a.db") == "sqlite:///tmp/a.db"


def test_an_unreachable_tracking_server_is_refused_in_seconds_without_its_password(tmp_path, monkeypatch):
    """Red team 2, item 5: MLflow retried for 254 s, then printed the URI with its password in a traceback."""
    import socket
    import time

    from radgen.cli import main

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:secret@127.0.0.1:{port}")
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    code = main(["train", "tiny", "--set", "train.logger=mlflow", "--output-dir", "runs", "--no-progress"])
    assert code == 2 and time.perf_counter() - started < 30
    assert not (tmp_path / "runs").exists()


def test_the_refusal_names_the_server_without_the_password(capsys, monkeypatch):
    import socket

    from radgen.training.loggers import check_tracking_uri

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError) as err:
        check_tracking_uri(f"http://user:secret@127.0.0.1:{port}", timeout=2)
    assert "secret" not in str(err.value) and f"http://user:***@127.0.0.1:{port}" in str(err.value)
