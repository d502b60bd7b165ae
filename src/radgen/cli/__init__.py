"""The ``radgen`` command line: argument parsing only; each command calls its function in ``radgen.api``.

One module per command group (the diffusers ``commands/`` pattern: ``register_<command>(subparsers)`` adds the
command's parser, ``run_<command>(args)`` calls the API and prints): ``info`` (list, version), ``data`` (data
inspect), ``train``, ``generate`` (sample, reconstruct, latent), ``evaluate`` (evaluate, report), ``experiments``
(classify, augment, demo, reproduce) and ``share`` (release, export). ``options`` holds the shared options and
generates the data options from ``DataConfig``'s fields.

Errors radgen raises on purpose (``RadgenError``) print as one line,
``radgen: error: <what, which file or value, and the fix>``, with exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from radgen import __version__, signals
from radgen.cli import data, evaluate, experiments, generate, info, share, train
from radgen.errors import RadgenError, Terminated, one_line

log = logging.getLogger("radgen")

#: every command, in the order ``radgen --help`` lists them, with its module's ``register_<command>``
COMMANDS: tuple[tuple[str, Callable[[Any], None]], ...] = (
    ("list", info.register_list),
    ("data", data.register_data),
    ("train", train.register_train),
    ("sample", generate.register_sample),
    ("reconstruct", generate.register_reconstruct),
    ("evaluate", evaluate.register_evaluate),
    ("classify", experiments.register_classify),
    ("augment", experiments.register_augment),
    ("demo", experiments.register_demo),
    ("report", evaluate.register_report),
    ("latent", generate.register_latent),
    ("reproduce", experiments.register_reproduce),
    ("release", share.register_release),
    ("export", share.register_export),
    ("version", info.register_version),
)


def build_parser() -> argparse.ArgumentParser:
    """The ``radgen`` argument parser: one sub-command per entry of ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="radgen", description="Generative models of medical images, and whether their samples help a real task."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"radgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for _, register in COMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; RadgenError and signals become one line and an exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), format="radgen: %(levelname)s: %(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    signals.install()
    try:
        return func(args)
    except RadgenError as exc:
        print(f"radgen: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except Terminated as exc:
        print(f"radgen: {one_line(exc)}", file=sys.stderr)
        return signals.exit_status(Terminated.signum)
    except KeyboardInterrupt as exc:
        print("radgen: interrupted" + (f"; {one_line(exc)}" if str(exc) else ""), file=sys.stderr)
        return signals.exit_status(signal.SIGINT)
    except SystemExit:  # a library's exit after a signal (Lightning: Ctrl-C -> sys.exit(1)): still non-zero
        if signals.received() is None:
            raise
        print(f"radgen: stopped by signal {signals.received()}", file=sys.stderr)
        return signals.exit_status(signals.received())
    except BrokenPipeError:  # output piped into `head` and closed early
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, RuntimeError) as exc:  # a write that failed outside radgen's atomic writers
        from radgen.errors import OutputError

        code = getattr(exc, "errno", None)
        if not (OutputError.is_disk_full(exc) or code in (errno.EACCES, errno.EPERM, errno.EROFS)):
            raise
        where = getattr(exc, "filename", None) or "."
        print(f"radgen: error: {one_line(OutputError.from_os(exc, where))}", file=sys.stderr)
        return 2
