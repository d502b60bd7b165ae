"""Options several commands share, and command-line options generated from a config dataclass's fields.

``add_dataclass_options(parser, DataConfig)`` gives each field an option: ``--<field-name>`` (underscores as
dashes), its help from the field's ``metadata["help"]`` (``metadata`` may also set ``flags``, ``metavar`` and
``choices``), its type, choices and default from the annotation. A field added to ``radgen.dataconfig.DataConfig``
is therefore an option of ``radgen data inspect`` and ``radgen classify`` with no edit here. The forms:

    int, float, str (or ``X | None``)  ->  --name VALUE
    Literal[...]                       ->  --name {a,b}
    bool, default False / True         ->  --name / --no-name
    list[X]                            ->  --name A,B (comma-separated)
    dict[str, Any]                     ->  --name KEY=VALUE, repeatable (dotted keys, YAML values)
"""

from __future__ import annotations

import argparse
import dataclasses
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from radgen.dataconfig import DataConfig


def _strip_optional(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        arms = [a for a in get_args(tp) if a is not type(None)]
        if len(arms) == 1:
            return arms[0]
    return tp


def _comma_list(item: type) -> Any:
    def parse(text: str) -> list[Any]:
        return [item(v.strip()) for v in text.split(",") if v.strip()]

    parse.__name__ = f"comma-separated {item.__name__}"  # argparse names the type in its error
    return parse


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def field_option(f: dataclasses.Field, tp: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """(flags, ``add_argument`` keywords) of one dataclass field; a TypeError names a type with no form."""
    meta = f.metadata
    dashed = f.name.replace("_", "-")
    default = _default(f)
    text = meta.get("help") or f"{f.name} (default {default!r})"
    kw: dict[str, Any] = {"dest": f.name, "help": text.replace("%", "%%")}
    tp = _strip_optional(tp)
    origin = get_origin(tp)
    if tp is bool:
        if default:
            return meta.get("flags", (f"--no-{dashed}",)), {**kw, "action": "store_false", "default": True}
        return meta.get("flags", (f"--{dashed}",)), {**kw, "action": "store_true", "default": False}
    flags = meta.get("flags", (f"--{dashed}",))
    if "metavar" in meta:
        kw["metavar"] = meta["metavar"]
    if origin is Literal:
        choices = get_args(tp)
        return flags, {**kw, "type": type(choices[0]), "choices": choices, "default": default}
    if tp in (int, float, str):
        if "choices" in meta:
            kw["choices"] = tuple(meta["choices"])
        return flags, {**kw, "type": tp, "default": default}
    if origin is list and get_args(tp) and get_args(tp)[0] in (int, float, str):
        return flags, {"metavar": "A,B", **kw, "type": _comma_list(get_args(tp)[0]), "default": default}
    if origin is dict or tp is dict:
        return flags, {"metavar": "KEY=VALUE", **kw, "action": "append", "default": []}
    raise TypeError(f"{f.name}: {tp!r} has no command-line form; give the field a simpler type")


def add_dataclass_options(
    parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = (), title: str | None = None
) -> None:
    """An option per field of the dataclass ``cls`` (except ``skip``), in field order, under ``title``."""
    group = parser.add_argument_group(title) if title else parser
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in skip:
            flags, kw = field_option(f, hints[f.name])
            group.add_argument(*flags, **kw)


def dataclass_from_args(cls: type, args: argparse.Namespace, **given: Any):
    """``cls`` from the options ``add_dataclass_options`` added (``KEY=VALUE`` lists become dicts), with
    ``given`` fields set directly."""
    from radgen.config import parse_override

    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in given:
            continue
        value = getattr(args, f.name)
        tp = _strip_optional(hints[f.name])
        if get_origin(tp) is dict or tp is dict:
            pairs = (parse_override(text) for text in value)
            value = {".".join(keys): v for keys, v in pairs}
        values[f.name] = value
    return cls(**values, **given)


def add_data_options(p: argparse.ArgumentParser) -> None:
    """The data options (every ``DataConfig`` field but ``name``, which each command takes its own way)."""
    add_dataclass_options(p, DataConfig, skip=("name",), title="data options")


def data_config(args: argparse.Namespace, name: str) -> DataConfig:
    """The ``DataConfig`` of ``add_data_options``' options; a path given as ``name`` is detected (and said)."""
    from radgen.data.detect import describe_detection

    name, path = describe_detection(name, args.path)
    return dataclass_from_args(DataConfig, args, name=name, path=path)


def add_set_option(p: argparse.ArgumentParser, text: str) -> None:
    """The repeatable ``--set KEY=VALUE`` override every config-driven command takes."""
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=text)


def add_allow_changed_data(p: argparse.ArgumentParser, what: str) -> None:
    """``--allow-changed-data``: go on although the run's training data changed since it was trained."""
    p.add_argument(
        "--allow-changed-data",
        action="store_true",
        help=f"go on with {what} although the run's training data changed since it was trained (recorded)",
    )


def add_no_progress(p: argparse.ArgumentParser, text: str | None = None) -> None:
    """``--no-progress``; without it, progress follows ``radgen.progress`` (bars on a terminal, lines elsewhere)."""
    p.add_argument("--no-progress", action="store_true", help=text)


def call_api(fn, args: argparse.Namespace, **given: Any):
    """``fn(**keywords)``: each of ``fn``'s parameters from the option of the same name (the CLI's options are named
    like the API's keywords), ``progress`` from ``--no-progress``, and ``given`` for the ones that are converted or
    named otherwise. The commands stay one line each, and an API keyword added later reaches the CLI by its name."""
    import inspect

    keywords: dict[str, Any] = {}
    for name in inspect.signature(fn).parameters:
        if name in given:
            keywords[name] = given[name]
        elif name == "progress" and hasattr(args, "no_progress"):
            keywords[name] = not args.no_progress
        elif hasattr(args, name):
            keywords[name] = getattr(args, name)
    return fn(**keywords)
