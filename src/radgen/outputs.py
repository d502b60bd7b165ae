"""Where commands may write, and what ``--overwrite`` may replace.

A command replaces only what radgen itself made. Folders written by ``radgen sample`` and
``radgen reconstruct`` carry a marker file (``MARKER``) that lists the files written; with
``--overwrite`` such a folder is replaced only when it still holds exactly those files.
Refused, whatever ``--overwrite`` says:

- a run, export, demo, augmentation or evaluation folder (they hold checkpoints, weights and results);
- the working directory, any of its ancestors, the home folder and the file-system root;
- a non-empty folder without the marker (folders from radgen versions before the marker have none,
  and are refused too), or with files the marker does not list;
- a file, or a symbolic link, where a folder is asked for.

Single figures (``radgen latent --out``, ``radgen data inspect --grid``) are replaced only when the
existing file is a PNG that radgen wrote (its ``Software`` text chunk starts with ``radgen``).

Names that become parts of file names (run names, generator labels) are checked by ``check_name``:
no path separators, no ``..``, so nothing a command writes lands outside its output folder.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

from radgen import runfolder as rf
from radgen.errors import ConfigError, RadgenError
from radgen.io import umask  # noqa: F401  (radgen.outputs.umask, as before: io owns it)

MARKER = ".radgen-output.json"  # written last into every folder that --overwrite may replace
PNG_SOFTWARE = "radgen"  # the PNG tEXt "Software" value radgen writes into its figures
# files whose presence makes a folder a run/export/experiment folder: never replaced by --overwrite
PROTECTED = (rf.RUN_INFO, rf.WEIGHTS, rf.CHECKPOINTS, rf.EXPORT, rf.DEMO, rf.AUGMENT_RESULTS, rf.SUMMARY)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=,-]{0,127}")


def check_name(text: str, what: str) -> str:
    """``text`` as one file-name component (letters, digits and ``. _ + = , -``, at most 128 characters,
    not starting with a dot), else a ConfigError naming ``what``."""
    if not isinstance(text, str) or not _NAME.fullmatch(text) or ".." in text:
        raise ConfigError(
            f"{what} {text!r} cannot be part of a file name; use letters, digits and . _ + = , - "
            "(no / or .., not starting with a dot, at most 128 characters)"
        )
    return text


def safe_folder_names(names: list[str]) -> list[str]:
    """One folder name per entry of ``names`` (class names read from data): a name ``check_name`` accepts is
    kept, any other is mapped to letters, digits and ``. _ + = , -`` (``class_<i>`` when nothing is left), and
    repeats get ``_<i>``; so no name read from a file can make a path leave its output folder. Callers record
    the mapping (the release's datasheet does)."""
    out: list[str] = []
    for i, name in enumerate(names):
        text = str(name)
        if not (_NAME.fullmatch(text) and ".." not in text):
            text = re.sub(r"[^A-Za-z0-9._+=,-]+", "_", text).strip("._-")[:120].replace("..", "_")
            text = text if text and _NAME.fullmatch(text) else f"class_{i}"
        if text.lower() in (o.lower() for o in out):  # case-insensitive file systems too
            text = f"{text}_{i}"
        out.append(text)
    return out


def check_inside(root: Path, path: Path) -> Path:
    """``path`` unless, resolved, it lies outside ``root`` (a last guard before a write; raises OutputError)."""
    from radgen.errors import OutputError

    base = Path(root).resolve()
    if not Path(path).resolve().is_relative_to(base):
        raise OutputError(f"{path}: would be written outside the output folder {root}; nothing was written there")
    return path


def _protected_roots() -> list[Path]:
    cwd = Path.cwd().resolve()
    return [cwd, *cwd.parents, Path.home().resolve(), Path(cwd.anchor)]


def _refuse_special(out: Path, option: str) -> None:
    if out.is_symlink():
        raise RadgenError(f"{option} {out} is a symbolic link; give a real folder (a link's target is not replaced)")
    resolved = out.resolve()
    if resolved in _protected_roots():
        raise RadgenError(
            f"{option} {out} is the working directory, one of its parents or the home folder; "
            "--overwrite never replaces those: give a new folder, e.g. --out samples"
        )


def check_new_folder(out: str | Path, *, option: str = "--out") -> Path:
    """A folder a command will create: it must not be a file, and its parent must be a folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RadgenError(f"{option} {out} is a file; give a folder path (it is created)")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RadgenError(f"{option} {out}: {parent} is a file, not a folder; choose another path")
            break
    return out


def check_replaceable(out: str | Path, *, option: str = "--out") -> Path:
    """Raise unless ``out`` is absent, an empty folder, or a folder that radgen made (marker) and that
    holds nothing else; returns ``out``."""
    out = check_new_folder(out, option=option)
    if not out.exists() and not out.is_symlink():
        return out
    _refuse_special(out, option)
    protected = [name for name in PROTECTED if (out / name).exists()]
    if protected or (out / rf.CONFIG).is_file() and not (out / MARKER).is_file():
        held = (protected or [rf.CONFIG])[0]
        raise RadgenError(
            f"{option} {out} is a radgen run, export or experiment folder (it holds {held}); "
            "--overwrite never replaces those: give a new folder"
        )
    if not any(out.iterdir()):
        return out
    entries = _files_below(out)
    listed = read_marker(out)
    if listed is None:
        raise RadgenError(
            f"{option} {out} is not empty and was not made by radgen sample/reconstruct (no {MARKER}; folders "
            "from older radgen versions have none either); remove it yourself or give a new folder"
        )
    links = sorted(e for e in entries if (out / e).is_symlink())
    if links:
        raise RadgenError(
            f"{option} {out} holds a symbolic link {links[0]!r}, which radgen did not write; --overwrite replaces "
            "only what radgen made: remove the link or give a new folder"
        )
    extra = sorted(entries - set(listed) - {MARKER})
    if extra:
        raise RadgenError(
            f"{option} {out} holds {extra[0]!r}, which radgen did not write there; --overwrite replaces only "
            "what radgen made: move that file or give a new folder"
        )
    return out


def _files_below(folder: Path) -> set[str]:
    """Every entry below ``folder`` that is not a directory (files, links), as relative POSIX paths; the marker
    lists them this way, so folders with sub-folders (``radgen release``) are replaced as safely as flat ones."""
    found = set()
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        found.update((rel / f).as_posix() for f in files)
        found.update((rel / d).as_posix() for d in dirs if (Path(root) / d).is_symlink())
    return found


def read_marker(folder: Path) -> list[str] | None:
    """The file names listed in ``folder``'s marker, or None when it has no valid marker."""
    try:
        data = json.loads((folder / MARKER).read_text())
        files = data["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if data.get("made_by") != "radgen" or not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return files


def write_marker(folder: Path, *, command: str) -> None:
    """List every file in ``folder`` (all written by ``command``) in its marker file."""
    from radgen import __version__
    from radgen.io import write_json

    files = sorted(_files_below(folder) - {MARKER})
    write_json(folder / MARKER, {"made_by": "radgen", "version": __version__, "command": command, "files": files})


def remove_made_folder(out: Path) -> None:
    """Delete a folder that ``check_replaceable`` accepted: the listed files, the marker, then the folder
    (``rmdir`` fails, leaving the rest, if anything appeared in it meanwhile)."""
    for name in read_marker(out) or []:
        p = out / name
        if ".." not in Path(name).parts and p.is_file() and not p.is_symlink():
            p.unlink()
    (out / MARKER).unlink(missing_ok=True)
    try:
        for folder, _, _ in sorted(os.walk(out, topdown=False), key=lambda w: -len(Path(w[0]).parts)):
            if Path(folder) != out:
                os.rmdir(folder)  # fails, leaving the rest, unless radgen's files were all it held
        out.rmdir()
    except OSError as exc:
        raise RadgenError(f"{out}: something other than radgen's files appeared in it; it was left in place") from exc


def is_radgen_png(path: Path) -> bool:
    """True if ``path`` is a PNG whose tEXt ``Software`` chunk (before the image data) starts with ``radgen``."""
    try:
        with open(path, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                return False
            for _ in range(64):  # text chunks come before IDAT; 64 chunks is far more than any writer puts there
                head = f.read(8)
                if len(head) < 8:
                    return False
                length, kind = struct.unpack(">I4s", head)
                if kind == b"IDAT" or length > 1 << 20:
                    return False
                body = f.read(length)
                f.read(4)  # CRC
                if kind == b"tEXt" and body.startswith(b"Software\x00" + PNG_SOFTWARE.encode()):
                    return True
    except OSError:
        return False
    return False


def check_figure_path(path: str | Path, *, overwrite: bool, option: str = "--out") -> Path:
    """A PNG a command writes: ends in ``.png``; an existing file is replaced only with ``overwrite`` and
    only if radgen wrote it; never a folder, a link or a path under a file."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise RadgenError(f"{option} {path}: figures are PNG files; give a path ending in .png")
    if path.is_symlink():
        raise RadgenError(f"{option} {path} is a symbolic link; give a regular file path")
    if path.is_dir():
        raise RadgenError(f"{option} {path} is a folder; give a file path ending in .png")
    check_new_folder(path.parent, option=option)
    if path.exists():
        if not overwrite:
            raise RadgenError(f"{path}: already exists; choose another {option} or pass --overwrite")
        if not is_radgen_png(path):
            raise RadgenError(
                f"{option} {path} exists and is not a figure radgen wrote; --overwrite replaces only radgen's "
                "own PNGs: choose another path"
            )
    return path


def new_run_dir(output_dir: str | Path, prefix: str) -> Path:
    """A fresh ``output_dir/<prefix>-<time>-<4 hex>`` folder, created exclusively; ``prefix`` is one
    file-name component, so the run never lands outside ``output_dir``."""
    check_name(prefix, "run name (--name / name:)")
    return rf.fresh_dir(check_new_folder(output_dir, option="--output-dir"), prefix)
