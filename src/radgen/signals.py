"""SIGTERM and SIGINT end every command with a non-zero status and one line.

``install`` (called once by the CLI) makes SIGTERM raise :class:`radgen.errors.Terminated` and SIGINT raise
``KeyboardInterrupt``, so every ``finally`` and temporary-folder cleanup runs; the CLI then exits 143 or 130,
the shell's convention for a process ended by a signal (128 + the signal number). ``received`` tells the CLI
which signal arrived even when a library turned it into something else (Lightning turns Ctrl-C into
``sys.exit(1)`` and SIGTERM into ``SIGTERMException``, a ``SystemExit`` whose status is 0).

``deferred`` is for Lightning's fit: there SIGTERM is handled by Lightning's own fault-tolerant path (it stops
at the next batch boundary, where radgen's ``StopCheckpoint`` saves a resumable checkpoint), so radgen's handler
only records the signal while Lightning's is in place, and raises as usual outside it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

from radgen.errors import Terminated

_received: list[int] = []


def received() -> int | None:
    """The last SIGTERM/SIGINT this process received through radgen's handlers, or None."""
    return _received[-1] if _received else None


def exit_status(signum: int) -> int:
    """The status a process ended by ``signum`` reports: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signum)


def _on_sigterm(signum, frame) -> None:
    _received.append(signum)
    raise Terminated("terminated (SIGTERM)")


def _on_sigint(signum, frame) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def install() -> None:
    """SIGTERM raises ``Terminated``, SIGINT ``KeyboardInterrupt`` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, _on_sigint)


@contextlib.contextmanager
def _sigterm_handler(handler) -> Iterator[None]:
    """Inside: ``handler`` serves SIGTERM (main thread only; elsewhere nothing changes); restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def deferred(handled_elsewhere: Callable[[], bool]) -> contextlib.AbstractContextManager[None]:
    """Inside: SIGTERM is recorded, and raises ``Terminated`` only when ``handled_elsewhere()`` is False (no
    library has taken it in hand); the previous handler is restored on exit."""

    def on_sigterm(signum, frame) -> None:
        _received.append(signum)
        if not handled_elsewhere():
            raise Terminated("terminated (SIGTERM)")

    return _sigterm_handler(on_sigterm)


def terminating() -> contextlib.AbstractContextManager[None]:
    """Inside: SIGTERM raises ``Terminated`` (for library callers that did not ``install``); restored on exit."""
    return _sigterm_handler(_on_sigterm)
