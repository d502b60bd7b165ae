"""The documentation's commands still match the CLI, and the README's links still lead somewhere.

Every ``radgen ...`` command in a fenced shell block of README.md and docs/**/*.md is parsed (not run) by
``radgen.cli.build_parser()``: a doc that names a removed command or option, or a value the parser refuses, fails
here. Shell variables (``$RUN``, ``$DATA``) are replaced by a dummy path, never skipped. ``radgen <command> --help``
must exit 0 for every command the docs name, and every relative link of the README must point at a file.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from radgen.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELL_LANGS = {"", "bash", "sh", "shell", "console", "text"}  # fenced blocks whose lines are shell commands
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")
DUMMY_PATH = "/tmp/radgen-docs-placeholder"  # stands in for $RUN, $DATA, ...: parsing never opens it
SEPARATORS = {";", "&", "&&", "|", "||", "(", ")", "$(", "`"}
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass(frozen=True)
class DocCommand:
    where: str  # path:line of the command's first line
    argv: tuple[str, ...]  # the arguments after ``radgen``
    error: str = ""  # why the line could not be read as shell, if it could not

    def __str__(self) -> str:
        return f"{self.where}: radgen {shlex.join(self.argv)}"


def fenced_blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """(language, line number of the first code line, code lines) of every fenced block in Markdown ``text``."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start, body = m.group(1), m.group(2).lower(), i + 2, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence[:3]):
            body.append(lines[i])
            i += 1
        blocks.append((lang, start, body))
        i += 1
    return blocks


def _radgen_argv(words: list[str]) -> list[str] | None:
    """The arguments of a shell segment that runs radgen (``radgen``, ``.venv/bin/radgen``, ``python -m radgen``,
    after ``VAR=value`` assignments), else None."""
    while words and ASSIGNMENT.match(words[0]):
        words = words[1:]
    if not words:
        return None
    if words[0] == "radgen" or words[0].endswith("/radgen"):
        return words[1:]
    if re.fullmatch(r"(.*/)?python3?", words[0]) and words[1:3] == ["-m", "radgen"]:
        return words[3:]
    return None


def commands_in(text: str, name: str) -> list[DocCommand]:
    """Every radgen command in the shell blocks of Markdown ``text`` (comments dropped, continuations joined)."""
    found = []
    for lang, start, body in fenced_blocks(text):
        if lang not in SHELL_LANGS:
            continue
        k = 0
        while k < len(body):
            first, line = k, body[k]
            while line.rstrip().endswith("\\") and k + 1 < len(body):
                k += 1
                line = line.rstrip()[:-1] + " " + body[k]
            k += 1
            line = re.sub(r"^\s*\$ ", "", line)  # a console prompt
            if not re.search(r"\bradgen\b", line):
                continue  # prose in a text block, or another tool's command
            lexer = shlex.shlex(VARIABLE.sub(DUMMY_PATH, line), posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            try:
                words = [*lexer, ";"]
            except ValueError as exc:  # unbalanced quotes: a broken command, or prose naming radgen
                if _radgen_argv(line.split()) is not None:
                    found.append(DocCommand(f"{name}:{start + first}", (), f"{exc}: {line.strip()}"))
                continue
            segment: list[str] = []
            for word in words:
                if word in SEPARATORS or set(word) <= set(";&|()"):
                    argv = _radgen_argv(segment)
                    if argv is not None:
                        found.append(DocCommand(f"{name}:{start + first}", tuple(argv)))
                    segment = []
                else:
                    segment.append(word)
    return found


def _all_commands() -> list[DocCommand]:
    return [c for f in DOC_FILES for c in commands_in(f.read_text(encoding="utf-8"), str(f.relative_to(ROOT)))]


COMMANDS = _all_commands()


def _command_path(argv: tuple[str, ...]) -> tuple[str, ...]:
    """The (sub-)command a doc command names: ``("train",)``, ``("data", "inspect")``."""
    words = [w for w in argv if not w.startswith("-")][:2]
    return tuple(words[:2]) if words[:1] == ["data"] else tuple(words[:1])


@pytest.fixture(scope="module")
def parser():
    return build_parser()


def _parse(parser, argv, capsys) -> tuple[int | str | None, str]:
    """(exit status or None when parsing returned, what argparse printed)."""
    try:
        parser.parse_args(list(argv))
    except SystemExit as exc:
        out = capsys.readouterr()
        return exc.code, out.out + out.err
    out = capsys.readouterr()
    return None, out.out + out.err


def test_the_docs_hold_commands():
    # the README's quickstart alone holds 7 radgen commands; the tutorials many more
    readme = [c for c in COMMANDS if c.where.startswith("README.md:")]
    assert len(readme) >= 7, [str(c) for c in readme]
    assert len(COMMANDS) >= 50, len(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_doc_command_parses(parser, command, capsys):
    assert not command.error, f"{command.where}: not a shell command: {command.error}"
    code, printed = _parse(parser, command.argv, capsys)
    assert code is None, f"{command} does not parse (exit {code}): {printed.strip()}"


@pytest.mark.parametrize("path", sorted({_command_path(c.argv) for c in COMMANDS}), ids=" ".join)
def test_help_of_each_command_in_the_docs(parser, path, capsys):
    code, printed = _parse(parser, [*path, "--help"], capsys)
    assert code == 0, f"radgen {' '.join(path)} --help exited {code}: {printed.strip()}"
    assert printed.startswith(f"usage: radgen {' '.join(path)}"), printed[:200]


def test_the_check_catches_a_removed_option(parser, capsys):
    doc = "```bash\nradgen train tiny --set train.epochs=1 \\\n  --no-such-option 3   # gone\n```\n"
    (command,) = commands_in(doc, "x.md")
    assert command == DocCommand("x.md:2", ("train", "tiny", "--set", "train.epochs=1", "--no-such-option", "3"))
    code, printed = _parse(parser, command.argv, capsys)
    assert code == 2 and "--no-such-option" in printed


def test_extraction_reads_shell_as_a_reader_would():
    doc = (
        "```python\n# radgen train tiny --bogus\n```\n"  # a Python block is not shell
        "```bash\n"
        "DATA=/x RADGEN_RUN_DIR=/y radgen data inspect $DATA --size 64   # comment --bogus\n"
        "RUN=$(ls -td runs/cvae-* | head -1) && .venv/bin/radgen sample $RUN --n 4 --out s/; "
        "python -m radgen version\n"
        "```\n"
    )
    got = [c.argv for c in commands_in(doc, "x.md")]
    assert got == [
        ("data", "inspect", DUMMY_PATH, "--size", "64"),
        ("sample", DUMMY_PATH, "--n", "4", "--out", "s/"),
        ("version",),
    ]


def _relative_links(text: str) -> list[str]:
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (http:, mailto:) or an anchor on the same page
        targets.append(target.split("#", 1)[0])
    return targets


def test_readme_relative_links_point_at_files():
    links = _relative_links((ROOT / "README.md").read_text(encoding="utf-8"))
    assert links, "the README links into the docs"
    missing = [t for t in links if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_readme_stays_short_and_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200
    first_block = fenced_blocks(text)[0][2]
    assert [line.split("#")[0].strip() for line in first_block] == ["make demo", "make test"]
    # the demo's table sits between markers that a later demo run's table replaces
    start, end = text.find("<!-- demo-table:start -->"), text.find("<!-- demo-table:end -->")
    assert 0 < start < end and "| primary |" in text[start:end]
