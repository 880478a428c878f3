"""Command-line flags and YAML files generated from the typed config dataclasses.

Each dataclass field becomes `--field-name` with the field's `help`; a nested dataclass field
(e.g. `SummarizeConfig.generation`) contributes its own fields as flags and is a nested mapping in
YAML. Precedence: flag > YAML (`--config FILE`) > the dataclass default.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any

from qfocus.errors import InputError


def _scalar_type(hint: Any) -> type:
    """int for `int | None`, str for `str`; for `tuple[int, ...]` the element type int."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0]
    return hint


def _is_sequence(hint: Any) -> bool:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(typing.get_origin(arg) is tuple for arg in typing.get_args(hint))
    return typing.get_origin(hint) is tuple


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, title: str | None = None) -> None:
    """Add one flag per field of the dataclass `cls` (recursing into nested dataclasses)."""
    group = parser.add_argument_group(title or cls.__doc__.strip().splitlines()[0].rstrip("."))
    hints = _hints(cls)
    for f in fields(cls):
        hint = hints[f.name]
        if is_dataclass(hint):
            add_config_arguments(parser, hint)
            continue
        default = f.default if f.default is not MISSING else None
        kind = _scalar_type(hint)
        flag = "--" + f.name.replace("_", "-")
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        text = f.metadata.get("help", "") + ("" if default is None else f" (default: {shown})")
        if _is_sequence(hint):
            group.add_argument(flag, dest=f.name, type=kind, nargs="+", default=None, metavar=kind.__name__.upper(),
                               help=text)
        elif kind is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            group.add_argument(flag, dest=f.name, type=kind, default=None, metavar=kind.__name__.upper(), help=text)


def build_config(cls: type, args: argparse.Namespace, yaml_path: str | None = None):
    """An instance of `cls` from flags set in `args`, then the YAML file, then defaults."""
    from_file = _read_yaml(yaml_path) if yaml_path else {}
    return _construct(cls, from_file, vars(args), yaml_path or "")


def _construct(cls: type, from_file: dict, flags: dict, source: str):
    hints = _hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(from_file) - names)
    if unknown:
        raise InputError(f"{source}: unknown key(s) {', '.join(unknown)}: use {', '.join(sorted(names))}")
    values = {}
    for f in fields(cls):
        hint = hints[f.name]
        if is_dataclass(hint):
            values[f.name] = _construct(hint, from_file.get(f.name) or {}, flags, source)
        elif flags.get(f.name) is not None:
            values[f.name] = flags[f.name]
        elif f.name in from_file:
            values[f.name] = from_file[f.name]
    return cls(**values)


def _read_yaml(path: str) -> dict:
    import yaml

    file = Path(path)
    if not file.is_file():
        raise InputError(f"config file {path} not found: check the path")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise InputError(f"config file {path} is not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(f"config file {path} must be a mapping of option names to values")
    return data
