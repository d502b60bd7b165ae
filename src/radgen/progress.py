"""When radgen shows progress, and how: one rule for the CLI and the Python API.

The rule: **bars only when standard error is a terminal.** A log file, a pipe or a notebook cell (Jupyter's
``sys.stderr`` is not a terminal) gets no bar: tqdm's redraws would be dozens of stream outputs there, and its
notebook widget warns when ipywidgets is missing (``TqdmWarning``), so radgen always uses the plain ``tqdm.std``
bar and never ``tqdm.auto``. ``progress=False`` turns every bar off.

Two kinds of progress:

- ``bar`` for fine steps (batches, images, sampler steps): a bar on a terminal, nothing elsewhere.
- ``Steps`` for the steps of a long stage (each generator pool, each classifier fit, each step of an evaluation):
  a bar on a terminal, else one line per step on standard error, so a log or a notebook shows the stage moving.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default: standard error) is a terminal; False for a closed or foreign stream."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed file
        return False


def show_bars(progress: bool | None = True) -> bool:
    """Whether progress bars are drawn: asked for (``progress`` not False) and standard error is a terminal."""
    return progress is not False and on_terminal()


def bar(
    iterable: Iterable[Any] | None = None,
    *,
    desc: str,
    total: int | None = None,
    progress: bool | None = True,
    unit: str = "it",
    leave: bool = False,
    **kwargs: Any,
):
    """A ``tqdm.std`` bar over ``iterable`` (or a manual one, ``update()``), drawn only where ``show_bars``
    says; elsewhere a disabled tqdm that yields the items and ignores ``update``."""
    from tqdm.std import tqdm

    return tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        leave=leave,
        file=sys.stderr,
        disable=not show_bars(progress),
        dynamic_ncols=True,
        **kwargs,
    )


class Steps:
    """The numbered steps of a long stage: ``step("what starts now")`` before each one, ``close()`` after.

    On a terminal one bar (the current step as its postfix); elsewhere, with ``progress`` on, one line per step
    on standard error, ``radgen: DESC [k/N] what starts now (+12 s)``, with the seconds since the stage began;
    with ``progress=False``, nothing. Usable as a context manager."""

    def __init__(self, desc: str, total: int | None = None, *, progress: bool | None = True, stream=None):
        self.desc, self.total, self.done = desc, total, 0
        self.lines = progress is not False and not show_bars(progress)
        self.stream = stream
        self.started = time.perf_counter()
        self._bar = bar(desc=desc, total=total, progress=progress, leave=True) if show_bars(progress) else None

    def step(self, text: str) -> None:
        """Mark the start of the next step (the previous one is done)."""
        if self._bar is not None:
            if self.done:
                self._bar.update()
            self._bar.set_postfix_str(text, refresh=True)
        elif self.lines:
            of = f"/{self.total}" if self.total else ""
            seconds = time.perf_counter() - self.started
            print(
                f"radgen: {self.desc} [{self.done + 1}{of}] {text} (+{seconds:.0f} s)",
                file=self.stream or sys.stderr,
                flush=True,
            )
        self.done += 1

    def close(self) -> None:
        """The last step is done."""
        if self._bar is not None:
            if self.done:
                self._bar.update()
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
