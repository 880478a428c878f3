"""Shared status output on stderr: the one-time GGUF conversion notice and the model-loading spinner."""

from __future__ import annotations


def conversion_notice(console):
    """An `on_convert` callback for `load_model` that tells the user why the first run is slower."""

    def on_convert(spec) -> None:
        console.print(f"[dim]first use of {spec.name}: converting its GGUF to a cached checkpoint (once, ~20 s)[/]")

    return on_convert


def load_with_status(model: str, adapter: str | None = None, dtype: str = "auto", decode_weights: str = "auto"):
    """`load_model` behind a spinner, with the conversion notice."""
    from rich.console import Console

    from qfocus.models import load_model

    console = Console(stderr=True)
    with console.status(f"loading {model} ..."):
        return load_model(model, dtype=dtype, adapter=adapter, on_convert=conversion_notice(console),
                          decode_weights=decode_weights)
