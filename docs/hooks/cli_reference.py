"""MkDocs hook: render the CLI reference from ``radgen.cli.build_parser()`` at build time.

A page that holds the line ``<!-- cli-reference -->`` gets, in its place, the help text of ``radgen`` and of every
sub-command (nested ones too, such as ``radgen data inspect``), each under a heading ``radgen <command>``; nothing is
copied by hand, so the page cannot drift from the parser.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- cli-reference -->"
WIDTH = "100"  # columns argparse wraps the help text to, fixed so the page does not depend on the terminal


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """(name, parser) of each sub-command, in the order the parser declares them."""
    found = []
    for action in parser._actions:  # argparse has no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            found.extend(action.choices.items())
    return found


def _walk(parser: argparse.ArgumentParser, depth: int) -> list[str]:
    out = [f"{'#' * depth} {parser.prog}", "", "```text", parser.format_help().rstrip(), "```", ""]
    for _, sub in _subcommands(parser):
        out += _walk(sub, min(depth + 1, 4))
    return out


def render() -> str:
    """The Markdown of the whole CLI reference."""
    from radgen.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        return "\n".join(_walk(parser, 2))
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())
