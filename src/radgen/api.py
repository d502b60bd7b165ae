"""The Python API: one function per CLI command, the very function the command calls.

```python
import radgen

ds = radgen.load_dataset("pneumoniamnist", val_from_train=0.1)         # or a path: radgen.load_dataset("/data/cxr")
run = radgen.train("tiny", overrides=["train.epochs=1"], output_dir="runs")   # radgen train tiny --set ...
model = radgen.load(run.run_dir)                                       # the exported model, in eval mode
x = model.sample(16, labels=None)                                      # (16, C, H, W) in [0, 1]
# a class-conditional model: labels by name (any case), index or list; model.class_names lists them
# x = model.sample(4, labels="pneumonia")
folder, metrics = radgen.evaluate(run.run_dir, n=500)                  # radgen evaluate RUN --n 500
out, sheet = radgen.release(run.run_dir, n=200, out="synthetic/")      # radgen release RUN --n 200 --out ...
```

``radgen.augment`` runs the augmentation experiment from its YAML config (``radgen augment --config``);
``radgen.classify({"data": {"name": "pneumoniamnist"}, "seeds": 3})`` trains the judge alone (``radgen classify``).

Every command of ``radgen`` has its function here, and the command calls it (``radgen.cli`` only parses and
prints): ``catalog`` (``list``), ``inspect_data`` (``data inspect``), ``train``, ``sample``, ``reconstruct``,
``evaluate``, ``classify``, ``augment``, ``demo``, ``report``, ``latent``, ``reproduce``, ``release``, ``export``,
``versions`` (``version``). ``progress=True`` follows ``radgen.progress``: bars only on a terminal; in a notebook
or a log, a line per step of the long stages and no bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from radgen.dataconfig import DataConfig


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
    """The exported model of a run folder (or of an ``export/`` folder, or of a diffusers folder that
    ``radgen export --format diffusers`` wrote), in eval mode, ready to ``sample``."""
    from radgen.interop.diffusers_export import import_diffusers, is_diffusers_export
    from radgen.models import load_exported

    if is_diffusers_export(run_dir):
        return import_diffusers(run_dir).to(map_location)

    model, _ = load_exported(run_dir, map_location=map_location)
    return model


def evaluate(
    run_dir: str | Path,
    *,
    real: str | None = None,
    n: int = 1000,
    features: tuple[str, ...] | list[str] = ("radgen-cnn001", "radgen-ae001"),
    seed: int = 0,
    inception_weights: str | Path | None = None,
    reference: Literal["auto", "val", "test"] = "auto",
    allow_changed_data: bool = False,
    bootstrap: int = 50,
    extractor_epochs: int = 8,
    shifted_test: bool = True,
    extractor_seeds: int = 3,
    progress: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """``radgen evaluate RUN``: the evaluation protocol (``radgen.evaluation.evaluate_run``: ``n`` images per set
    against the ``reference`` split of ``real``, default the run's dataset, with the named feature extractors;
    ``bootstrap`` resamples for the intervals, ``extractor_epochs`` for radgen's own extractors, ``shifted_test``
    also scores the shifted test split, ``extractor_seeds`` trainings of each radgen-trained extractor averaged with
    a two-level interval), then its ``metrics.md``; returns (folder, metrics). ``progress``: a line (or, on a
    terminal, a bar) per step."""
    from radgen.evaluation import evaluate_run
    from radgen.reports.evaluation import write_markdown

    folder, metrics = evaluate_run(
        run_dir,
        real=real,
        n=n,
        features=tuple(features),
        seed=seed,
        inception_weights=str(inception_weights) if inception_weights else None,
        reference=reference,
        allow_changed_data=allow_changed_data,
        bootstrap=bootstrap,
        extractor_epochs=extractor_epochs,
        shifted_test=shifted_test,
        extractor_seeds=extractor_seeds,
        progress=progress,
    )
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

    ``diffusers``: a DDPM or latent diffusion model as a pipeline folder (``radgen.interop.diffusers_export``)
    whose samples equal radgen's sampler's for the same generator; other models are refused."""
    from radgen.errors import ConfigError

    if format != "diffusers":
        raise ConfigError(f"--format {format!r}; valid: diffusers")
    from radgen.interop.diffusers_export import export_diffusers

    return export_diffusers(run_dir, out)


def release(
    run_dir: str | Path,
    *,
    n: int,
    out: str | Path,
    formats: tuple[str, ...] | list[str] = ("png", "npz"),
    splits: tuple[float, float, float] = (1.0, 0.0, 0.0),
    augment: str | Path | None = None,
    force: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    name: str | None = None,
    progress: bool = True,
    allow_changed_data: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """``radgen release RUN --n N --out DIR``: ``n`` synthetic images in ``formats`` (png, npz, dicom) split by
    the train/val/test ``splits`` fractions, audited for memorization (refused unless ``force`` when the audit
    refuses), with the ``augment`` run's verdict in the datasheet; returns (release folder, datasheet)."""
    from radgen.release import release as _release

    return _release(
        run_dir,
        n=n,
        out=out,
        formats=tuple(formats),
        splits=tuple(splits),
        augment=augment,
        force=force,
        overwrite=overwrite,
        seed=seed,
        name=name,
        progress=progress,
        allow_changed_data=allow_changed_data,
    )


def catalog(what: Literal["datasets", "models", "configs", "features", "classifiers"]) -> list[dict[str, Any]]:
    """``radgen list WHAT``: the registered entries, each ``{"name", "description", ...}``; datasets add
    ``default``, ``path`` and ``options``; models ``preset_of`` and ``defaults``; configs ``path``;
    classifiers ``kind`` (judge or network) and ``default``."""
    from radgen.errors import ConfigError

    if what == "features":
        from radgen.metrics.features import FEATURES

        return [{"name": e.name, "description": e.description} for e in FEATURES]
    if what == "models":
        from radgen.models import MODELS

        return [
            {"name": e.name, "description": e.description, "preset_of": e.obj.cls.__name__, "defaults": e.obj.defaults}
            for e in MODELS
        ]
    if what == "classifiers":
        from radgen.classifiers.judge import DEFAULT_JUDGE, JUDGES
        from radgen.classifiers.nets import CLASSIFIERS

        judges = [
            {"name": e.name, "description": e.description, "kind": "judge", "default": e.name == DEFAULT_JUDGE}
            for e in JUDGES
        ]
        return judges + [
            {"name": e.name, "description": e.description, "kind": "network", "default": False} for e in CLASSIFIERS
        ]
    if what == "configs":
        from radgen.training.config import shipped_configs

        rows = []
        for name, path in sorted(shipped_configs().items()):
            lines = path.read_text().splitlines()
            first = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("#")), "")
            rows.append({"name": name, "description": first, "path": str(path)})
        return rows
    if what == "datasets":
        from radgen.data import DATASETS, DEFAULT_DATASET

        return [
            {
                "name": e.name,
                "description": e.description,
                "default": e.name == DEFAULT_DATASET,
                "path": e.obj.default_path,
                "options": list(e.obj.option_names()),
            }
            for e in DATASETS
        ]
    raise ConfigError(f"nothing registered as {what!r}; valid: datasets, models, configs, features, classifiers")


def versions() -> dict[str, str]:
    """``radgen version``: radgen's, torch's and Python's versions."""
    import sys

    import torch

    from radgen import __version__

    return {"radgen": __version__, "torch": torch.__version__, "python": sys.version.split()[0]}


def inspect_data(
    data: str | Path | DataConfig | None = None,
    *,
    grid: str | Path | None = None,
    per_class: int = 8,
    progress: bool = True,
) -> dict[str, Any]:
    """``radgen data inspect``: a dataset's splits, classes, sizes, modes and patients, as a dict; ``data`` is a
    registered name, a path (its format detected) or a ``DataConfig`` (default: the default dataset). ``grid``:
    also save a PNG of ``per_class`` examples per class of the train split (checked before the load)."""
    from radgen.data import DEFAULT_DATASET, DataConfig
    from radgen.data.inspect import inspect_dataset
    from radgen.errors import RadgenError

    cfg = data if isinstance(data, DataConfig) else DataConfig(name=str(data or DEFAULT_DATASET))
    if grid:
        from radgen.outputs import check_figure_path

        check_figure_path(grid, overwrite=True, option="--grid")  # before the (slow) load
    summary, ds = inspect_dataset(cfg, progress=progress)
    if grid:
        if ds is None:
            raise RadgenError(f"--grid needs images, and dataset {cfg.name!r} has none here (labels only)")
        from radgen.viz import examples_per_class, save_class_grid

        split = "train" if "train" in ds else next(iter(ds))
        s = ds[split]
        rows = examples_per_class(
            s.images if s.normalize == "none" else s.with_view(normalize="none").images,
            s.labels,
            s.class_names,
            per_class=per_class,
            seed=cfg.seed,
        )
        save_class_grid(rows, grid, title=f"{cfg.name} / {split}")
        summary["grid"] = str(grid)
    return summary


def sample(
    run_dir: str | Path,
    *,
    out: str | Path,
    n: int = 64,
    label: str | int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    overwrite: bool = False,
    sampler: Literal["ddpm", "ddim", "dpmsolver++", "unipc"] | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    eta: float | None = None,
) -> Path:
    """``radgen sample RUN --out DIR``: ``n`` samples as PNG files and ``grid.png``; ``label`` is a class name
    (any case) or index for class-conditional models; ``sampler``/``steps``/``guidance``/``eta`` apply to
    diffusion models. ``out`` is checked before anything loads; returns it."""
    from radgen.errors import RadgenError
    from radgen.models import load_exported
    from radgen.models.export import label_index
    from radgen.sampling import check_output, write_samples

    check_output(out, overwrite)  # before loading anything
    model, meta = load_exported(run_dir)
    index = label_index(label, meta.get("data", {}).get("class_names", []))
    extra = {
        k: v
        for k, v in (("sampler", sampler), ("steps", steps), ("guidance_scale", guidance), ("eta", eta))
        if v is not None
    }
    if not set(extra) <= set(model.sample_options):
        raise RadgenError(
            f"--sampler/--steps/--guidance/--eta apply to diffusion models; {model.config.name!r} is not one"
        )
    return write_samples(model, out, n=n, label=index, seed=seed, batch_size=batch_size, overwrite=overwrite, **extra)


def reconstruct(
    run_dir: str | Path,
    *,
    out: str | Path,
    data: str | None = None,
    split: str = "test",
    n: int = 16,
    overwrite: bool = False,
) -> Path:
    """``radgen reconstruct RUN --out DIR``: reconstructions (decoded from the posterior mean) of ``n`` real images
    of ``split`` (default test; then val, then train) and ``grid.png``; returns ``out``."""
    from radgen.sampling import write_reconstructions

    return write_reconstructions(run_dir, out, data=data, split=split, n=n, overwrite=overwrite)


def demo(
    *,
    data: str = "chest_xray_full_64",
    data_dir: str | Path | None = None,
    path: str | Path | None = None,
    size: int | None = None,
    quick: bool = False,
    budget: Literal["demo", "full"] = "demo",
    seeds: int | None = None,
    judge: str | None = None,
    device: str = "cpu",
    output_dir: str | Path = "runs",
    extractor_seeds: int = 3,
    progress: bool = True,
) -> Path:
    """``radgen demo``: train the generators, evaluate them, run the augmentation arms and write the report;
    returns the demo folder (``report.html`` inside)."""
    from radgen.experiments.demo import DemoSettings, run_demo

    settings = DemoSettings(
        data=data,
        data_dir=str(data_dir) if data_dir else None,
        path=str(path) if path else None,
        quick=quick,
        seeds=seeds,
        output_dir=str(output_dir),
        size=size,
        budget=budget,
        device=device,
        judge=judge,
        extractor_seeds=extractor_seeds,
    )
    return run_demo(settings, progress=progress)


def report(runs: list[str | Path] | tuple[str | Path, ...], *, out: str | Path | None = None) -> tuple[Path, Path]:
    """``radgen report DIR...``: ``report.html`` (self-contained) and ``report.md`` from demo, run, augmentation or
    evaluation folders, written to ``out`` (default: the folder, when there is one); returns (html, md)."""
    from radgen.errors import RadgenError
    from radgen.reports import write_report

    target = Path(out) if out else (Path(runs[0]) if len(runs) == 1 else None)
    if target is None:
        raise RadgenError("several directories: say where the report goes with --out DIR")
    return write_report(list(runs), target)


def latent(
    run_dir: str | Path,
    plot: Literal["traversal", "grid", "scatter", "tsne", "interpolate", "kl"],
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    split: str = "test",
    n: int = 2000,
    label: str | int | None = None,
    dims: list[int] | None = None,
    steps: int = 10,
    seed: int = 0,
    data: str | None = None,
) -> tuple[Path, object]:
    """``radgen latent RUN --plot PLOT``: a latent-space figure (default ``RUN/latent/PLOT.png``); returns
    (figure path, the plotted values)."""
    from radgen.analysis.latent import latent_plot

    return latent_plot(
        run_dir,
        plot,
        out=out,
        overwrite=overwrite,
        split=split,
        n=n,
        label=label,
        dims=dims,
        steps=steps,
        seed=seed,
        data=data,
    )


def reproduce(
    name: str,
    *,
    output_dir: str | Path = "runs",
    epochs: int | None = None,
    quick: bool = False,
    include_all: bool = False,
    overrides: list[str] | tuple[str, ...] = (),
    inception_weights: str | None = None,
    data: str | None = None,
    versions: list[str] | tuple[str, ...] = (),
    progress: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """``radgen reproduce NAME``: a design document's experiment into a fresh folder; returns (folder, result
    with ``markdown`` and ``seconds``)."""
    from radgen.experiments.reproduce import run_reproduction
    from radgen.progress import show_bars

    return run_reproduction(
        name,
        output_dir=output_dir,
        epochs=epochs,
        quick=quick,
        progress=show_bars(progress),
        include_all=include_all,
        overrides=tuple(overrides),
        inception_weights=inception_weights,
        data=data,
        versions=tuple(versions),
    )
