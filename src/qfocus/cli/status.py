"""Shared status output on stderr: the one-time GGUF conversion notice and the model-loading spinner."""

from __future__ import annotations


def conversion_notice(console):
    """An `on_convert` callback for `load_model` that tells the user why the first run is slower."""

    def on_convert(spec) -> None:
        console.print(f"[dim]first use of {spec.name}: converting its GGUF to a cached checkpoint (once, ~20 s)[/]")

    return on_convert


def load_with_status(config, adapter: str | None = None):
    """`models.load_for(config, adapter)` behind a spinner, with the conversion notice."""
    from rich.console import Console

    from qfocus.models import load_for

    console = Console(stderr=True)
    with console.status(f"loading {config.model} ..."):
        return load_for(config, adapter, on_convert=conversion_notice(console))
