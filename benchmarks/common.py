"""Helpers shared by the benchmark scripts: timing, environment stamp, result files."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from radgen.io import write_json, write_text  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def stamp() -> dict:
    import torch

    from radgen.provenance import git_sha, machine

    return {
        "commit": git_sha(short=True) or "unknown",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def median_time(
    fn: Callable[[], object], *, repeats: int, setup: Callable[[], object] | None = None
) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def save(name: str, rows: list[dict], columns: list[str], title: str, notes: str = "") -> str:
    env = stamp()
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(str(r[c]) for c in columns) + " |\n" for r in rows)
    md = (
        f"## {title}\n\ncommit {env['commit']}, {env['date']}, {env['machine']}, torch "
        f"{env['torch']} ({env['threads']} threads)\n\n{header}{body}"
    )
    if notes:
        md += f"\n{notes}\n"
    write_json(RESULTS / f"{name}.json", {"env": env, "rows": rows, "notes": notes})
    write_text(RESULTS / f"{name}.md", md)
    return md
