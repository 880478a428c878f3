"""Flags and YAML generated from the typed config dataclasses."""

from __future__ import annotations

import argparse

import pytest

from qfocus.cli.args import add_config_arguments, build_config
from qfocus.errors import InputError
from qfocus.hyper import HyperConfig


def parse(argv: list[str], yaml_path=None) -> HyperConfig:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, HyperConfig)
    return build_config(HyperConfig, parser.parse_args(argv), yaml_path)


def test_scalar_tuple_and_optional_tuple_flags():
    config = parse(["--method", "lora", "--targets", "q", "v", "--rank", "4", "--static-layers", "0", "2",
                    "--no-detach-query"])
    assert config.method == "lora" and config.targets == ("q", "v") and config.rank == 4
    assert config.static_layers == (0, 2) and config.hyper_layers is None and config.detach_query is False
    assert parse([]) == HyperConfig()


def test_yaml_lists_become_tuples_and_flags_win(tmp_path):
    path = tmp_path / "hyper.yaml"
    path.write_text("method: ideal-padapter\ntargets: [q, k]\nhyper_layers: [1]\nrank: 2\n")
    config = parse(["--rank", "16"], str(path))
    assert config.method == "ideal-padapter" and config.targets == ("q", "k") and config.hyper_layers == (1,)
    assert config.rank == 16


def test_help_shows_tuple_defaults_and_validation_speaks():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, HyperConfig)
    assert "(default: q k v o up)" in " ".join(parser.format_help().split())
    with pytest.raises(InputError, match="targets"):
        parse(["--targets", "q", "nope"])
