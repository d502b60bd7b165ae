"""Registry, config schema and atomic writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest

from radgen.config import apply_overrides, from_dict, parse_override, to_dict
from radgen.errors import ConfigError
from radgen.io import atomic_path, write_json, write_text
from radgen.registry import Registry


def test_registry_get_and_unknown_lists_valid_names():
    reg: Registry[int] = Registry("thing")
    reg.add("b", 2, "two")
    reg.register("a", "one")(1)
    assert reg.get("a") == 1 and reg.names() == ["a", "b"] and "b" in reg and len(reg) == 2
    with pytest.raises(ConfigError, match=r"unknown thing 'c'; valid: a, b"):
        reg.get("c")
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", 3, "again")


@dataclasses.dataclass
class Inner:
    lr: float = 1e-3
    mode: Literal["sum", "mean"] = "sum"


@dataclasses.dataclass
class Outer:
    name: str = "x"
    epochs: int = 1
    size: int | None = None
    inner: Inner = dataclasses.field(default_factory=Inner)


def test_from_dict_is_strict_about_keys_types_and_choices():
    cfg = from_dict(Outer, {"epochs": 3, "inner": {"lr": 1, "mode": "mean"}})
    assert cfg.epochs == 3 and cfg.inner.lr == 1.0 and isinstance(cfg.inner.lr, float) and cfg.inner.mode == "mean"
    with pytest.raises(ConfigError, match=r"unknown config key 'inner.lrr'; valid keys: lr, mode"):
        from_dict(Outer, {"inner": {"lrr": 1}})
    with pytest.raises(ConfigError, match=r"epochs='3' must be an integer"):
        from_dict(Outer, {"epochs": "3"})
    with pytest.raises(ConfigError, match=r"inner.mode='max' is not valid; valid: sum, mean"):
        from_dict(Outer, {"inner": {"mode": "max"}})
    with pytest.raises(ConfigError, match=r"epochs=True must be an integer"):
        from_dict(Outer, {"epochs": True})
    assert from_dict(Outer, {"size": None}).size is None
    assert to_dict(cfg)["inner"] == {"lr": 1.0, "mode": "mean"}


def test_overrides_parse_yaml_values_and_nest():
    assert parse_override("a.b=1e-3") == (["a", "b"], 1e-3)
    assert parse_override("w=[400, 40]") == (["w"], [400, 40])
    out = apply_overrides({"inner": {"lr": 1.0}}, ["inner.mode=mean", "epochs=5"])
    assert out == {"inner": {"lr": 1.0, "mode": "mean"}, "epochs": 5}
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_override("novalue")


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path: Path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    write_text(target, "second")
    assert target.read_text() == "second"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "second"  # the old file survives a crash
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
