"""The Python API: one function per CLI command, the very function the command calls.

```python
import radgen

ds = radgen.load_dataset("pneumoniamnist", val_from_train=0.1)         # or a path: radgen.load_dataset("/data/cxr")
run = radgen.train("tiny", overrides=["train.epochs=1"], output_dir="runs")   # radgen train tiny --set ...
model = radgen.load(run.run_dir)                                       # the exported model, in eval mode
x = model.sample(16, labels=None)                                      # (16, C, H, W) in [0, 1]
folder, metrics = radgen.evaluate(run.run_dir, n=500)                  # radgen evaluate RUN --n 500
out, sheet = radgen.release(run.run_dir, n=200, out="synthetic/")      # radgen release RUN --n 200 --out ...
```

``radgen.augment`` runs the augmentation experiment from its YAML config (``radgen augment --config``);
``radgen.classify({"data": {"name": "pneumoniamnist"}, "seeds": 3})`` trains the judge alone (``radgen classify``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def train(
    config: str | Path | None = None,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    output_dir: str | Path | None = None,
    name: str | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    allow_changed_data: bool = False,
):
    """Train a model from a config file or shipped config name (``radgen train CONFIG --set ...``), or continue
    ``resume`` (a run folder) with ``overrides``; returns the ``RunResult`` (``run_dir``, ``model``, ``summary``).
    A resume whose training data changed since (ids or content) is refused unless ``allow_changed_data``."""
    from radgen.errors import RadgenError
    from radgen.training import load_run_config
    from radgen.training import train as _train
    from radgen.training.config import check_run_config
    from radgen.training.run import resume_config

    if resume:
        if config or output_dir or name:
            raise RadgenError(
                "--resume continues RUN_DIR in place, with its own config: drop the config, --output-dir and --name "
                "(change train settings with --set, e.g. --set train.epochs=20)"
            )
        cfg = resume_config(resume, list(overrides))
    else:
        if not config:
            raise RadgenError("give a config (file or shipped name, see `radgen list configs`) or --resume RUN_DIR")
        cfg = load_run_config(config, list(overrides))
    if output_dir:
        cfg.output_dir = str(output_dir)
    if name:
        cfg.name = name
    check_run_config(cfg)  # again, with the name and output folder
    return _train(
        cfg, resume=str(resume) if resume else None, progress=progress, allow_changed_data=allow_changed_data
    )


def load(run_dir: str | Path, *, map_location: str = "cpu"):
    """The exported model of a run folder (or of an ``export/`` folder), in eval mode, ready to ``sample``."""
    from radgen.models import load_exported

    model, _ = load_exported(run_dir, map_location=map_location)
    return model


def evaluate(run_dir: str | Path, **options: Any) -> tuple[Path, dict[str, Any]]:
    """``radgen evaluate RUN``: the evaluation protocol, then its ``metrics.md``; returns (folder, metrics)."""
    from radgen.evaluation import evaluate_run
    from radgen.reports.evaluation import write_markdown

    folder, metrics = evaluate_run(run_dir, **options)
    write_markdown(folder, metrics)
    return folder, metrics


def augment(
    config: str | Path | dict[str, Any],
    *,
    overrides: list[str] | tuple[str, ...] = (),
    output_dir: str | Path | None = None,
    progress: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """``radgen augment --config FILE``: the augmentation experiment; returns (output folder, summary)."""
    from radgen.experiments.augment import load_augment_config, run_augment

    cfg = load_augment_config(config, list(overrides))
    if output_dir:
        cfg.output_dir = str(output_dir)
    return run_augment(cfg, progress=progress)


def classify(
    config: str | Path | dict[str, Any],
    *,
    overrides: list[str] | tuple[str, ...] = (),
    progress: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """``radgen classify``: train and evaluate a classifier (the judge) alone over seeds, from a config dict or
    YAML file (``{data: ..., judge: resnet18, seeds: 3, ...}``); returns (output folder, results)."""
    from radgen.config import load_yaml
    from radgen.experiments.classify import load_classify_config, run_classify

    data = dict(config) if isinstance(config, dict) else load_yaml(Path(config))
    return run_classify(load_classify_config(data, list(overrides)), progress=progress)


def export(run_dir: str | Path, *, format: str, out: str | Path) -> Path:
    """``radgen export RUN --format diffusers --out DIR``: the run's model in another tool's format; returns ``out``.

    ``diffusers``: a DDPM as a pipeline folder (``radgen.interop.diffusers_export``) whose samples equal radgen's
    DDPM sampler's for the same generator."""
    from radgen.errors import ConfigError

    if format != "diffusers":
        raise ConfigError(f"--format {format!r}; valid: diffusers")
    from radgen.interop.diffusers_export import export_diffusers

    return export_diffusers(run_dir, out)


def release(run_dir: str | Path, **options: Any) -> tuple[Path, dict[str, Any]]:
    """``radgen release RUN --n N --out DIR``; returns (release folder, datasheet)."""
    from radgen.release import release as _release

    return _release(run_dir, **options)
