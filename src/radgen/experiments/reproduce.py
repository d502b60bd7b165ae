"""``radgen reproduce NAME``: a design document's experiment as one command.

Each reproduction trains the shipped configs of its document (``--epochs`` shortens them:
the documents' budgets are long on a 2-core CPU), measures what the document reports, and
writes ``runs/reproduce-<name>-<time>-<id>/``: ``table.md`` with the document's numbers in
a column beside radgen's, ``results.json``, the figures, and the training runs under ``runs/``.

The reproductions themselves are ``radgen.experiments.reproductions`` (one module each).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from radgen.errors import ConfigError
from radgen.experiments.reproductions import REPRODUCTIONS, ReproduceContext
from radgen.experiments.reproductions.family_cost import COST_ROWS
from radgen.io import write_json, write_text

__all__ = ["COST_ROWS", "REPRODUCTIONS", "ReproduceContext", "run_reproduction"]


def run_reproduction(
    name: str,
    *,
    output_dir: str | Path = "runs",
    epochs: int | None = None,
    quick: bool = False,
    progress: bool = False,
    include_all: bool = False,
    overrides: tuple[str, ...] = (),
    inception_weights: str | None = None,
    data: str | None = None,
    versions: tuple[str, ...] = (),
) -> tuple[Path, dict[str, Any]]:
    """Run the registered reproduction ``name`` into a fresh folder; returns (folder, result)."""
    from radgen.outputs import new_run_dir
    from radgen.reports.markdown import markdown_to_html
    from radgen.runfolder import REPRODUCE_RESULTS, REPRODUCE_TABLE

    spec = REPRODUCTIONS.get(name)
    if data is not None and not spec.takes_data:
        takers = [n for n in REPRODUCTIONS.names() if REPRODUCTIONS.get(n).takes_data]
        raise ConfigError(f"--data applies to {', '.join(takers)}; {name} trains on its document's datasets")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs {epochs} must be at least 1")
    if versions:
        if not spec.versions:
            with_versions = [n for n in REPRODUCTIONS.names() if REPRODUCTIONS.get(n).versions]
            raise ConfigError(f"--versions applies to {', '.join(with_versions)}; {name} has no versions")
        unknown = [v for v in versions if v not in spec.versions]
        if unknown:
            raise ConfigError(
                f"--versions {','.join(unknown)}: not a version of {name}; valid: {', '.join(spec.versions)}"
            )
    out = new_run_dir(output_dir, f"reproduce-{name}")
    started = time.perf_counter()
    result = spec.run(
        ReproduceContext(
            out=out,
            epochs=epochs,
            quick=quick,
            progress=progress,
            include_all=include_all,
            overrides=tuple(overrides),
            inception_weights=inception_weights,
            data=data,
            versions=tuple(versions),
        )
    )
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_json(out / REPRODUCE_RESULTS, {k: v for k, v in result.items() if k != "markdown"})
    write_text(out / f"{REPRODUCE_TABLE}.md", result["markdown"])
    write_text(
        out / f"{REPRODUCE_TABLE}.html",
        markdown_to_html(result["markdown"], base=out, title=f"radgen reproduce {name}"),
    )
    return out, result
