"""Adapters trained by this project and shipped inside the package, one per embedded model.

`--adapter default` (the default of `qfocus summarize`, `eval`, `compare` and `SummarizeConfig`)
attaches the adapter shipped for the embedded model in use, and nothing for any other model;
`--adapter none` runs zero-shot; `--adapter DIR` attaches another. Each shipped folder holds
adapter.safetensors, adapter_config.json (with the window it was trained for) and MODEL_CARD.md
(base model and its hash, data, command, steps, measured results).

    >>> from qfocus.shipped import resolve_adapter
    >>> resolve_adapter("default", "smollm2")   # .../qfocus/shipped/smollm2-ideal-lora
    >>> resolve_adapter("none", "smollm2")      # None: zero-shot
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).parent
SHIPPED = {"smollm2": "smollm2-ideal-lora"}  # embedded model name -> its adapter folder here
DEFAULT, NONE = "default", "none"


def shipped_adapter(model: str) -> Path | None:
    """The folder of the adapter shipped for embedded model `model`, or None (no adapter ships for it)."""
    name = SHIPPED.get(model)
    return FOLDER / name if name is not None else None


def resolve_adapter(adapter: str | Path | None, model: str) -> str | None:
    """The adapter folder to attach for `--adapter` on `--model`: default -> the shipped one (or None),
    none (or None) -> None, anything else is a folder and is returned as given."""
    if adapter is None or str(adapter).lower() == NONE:
        return None
    if str(adapter).lower() == DEFAULT:
        folder = shipped_adapter(model)
        return str(folder) if folder is not None else None
    return str(adapter)
