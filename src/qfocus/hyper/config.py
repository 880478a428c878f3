"""Typed configuration of the Query-aware HyperExpert and its static baselines (DESIGN §1)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qfocus.errors import InputError

METHODS = ("lora", "prompt", "padapter", "ideal-lora", "ideal-prompt", "ideal-padapter")
NO_ADAPTER = "none"  # with memory=True: train and save the memory gates alone (the `infini` strategy)
LORA_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")
CONFIG_FILE = "adapter_config.json"  # beside adapter.safetensors in a saved adapter folder


@dataclass
class HyperConfig:
    """Which adapter, where, and how large. Defaults follow the IDEAL reference."""

    method: str = field(
        default="ideal-lora",
        metadata={"help": f"Adapter method: one of {', '.join(METHODS)}, or none (memory gates only, with --memory)."},
    )
    targets: tuple[str, ...] = field(
        default=("q", "k", "v", "o", "up"),
        metadata={"help": "LoRA targets: attention q, k, v, o and MLP gate, up, down projections."},
    )
    rank: int = field(default=8, metadata={"help": "LoRA rank r."})
    alpha: float = field(default=16.0, metadata={"help": "LoRA scale numerator: the update is scaled by alpha / rank."})
    prompt_tokens: int = field(default=10, metadata={"help": "Prompt methods: virtual key/value tokens per layer."})
    adapter_dim: int = field(default=64, metadata={"help": "Parallel adapter bottleneck width."})
    code_size: int = field(default=64, metadata={"help": "Hypernetwork: size c of each layer's code."})
    dropout: float = field(default=0.05, metadata={"help": "Dropout in the hypernetwork and on LoRA inputs."})
    hyper_layers: tuple[int, ...] | None = field(
        default=None, metadata={"help": "Layers whose parameters the hypernetwork generates; default: upper half."}
    )
    static_layers: tuple[int, ...] | None = field(
        default=None,
        metadata={"help": "Layers with static adapters; default: lower half for IDEAL methods, all for static ones."},
    )
    query_layer: int | None = field(
        default=None, metadata={"help": "The query vector is the mean hidden state entering this layer; default L/2."}
    )
    detach_query: bool = field(
        default=True, metadata={"help": "Stop gradients from the hypernetwork into the lower layers (as the reference)."}
    )
    memory: bool = field(
        default=False,
        metadata={"help": "Add Query-focused Infini-attention: read in segments into a compressive memory whose "
                          "gates are trained and saved with the adapter (DESIGN §2)."},
    )
    segment: int = field(
        default=1024, metadata={"help": "Memory: segment length S in tokens (reference: 800 for 7B on 24 GB, 1600 on 40 GB)."}
    )
    gate_init: float = field(
        default=0.0, metadata={"help": "Memory: initial per-head gate β; the memory's share is sigmoid(β) (0: one half)."}
    )

    def __post_init__(self) -> None:
        if self.method not in (*METHODS, NO_ADAPTER):
            raise InputError(f"unknown adapter method '{self.method}': use one of {', '.join(METHODS)} or none")
        self.targets = tuple(self.targets)
        bad = sorted(set(self.targets) - set(LORA_TARGETS))
        if bad or not self.targets:
            raise InputError(f"LoRA targets {bad or '()'} are not known: use some of {', '.join(LORA_TARGETS)}")
        for name in ("rank", "prompt_tokens", "adapter_dim", "code_size", "segment"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} is {getattr(self, name)}: pass a positive number")
        if not 0 <= self.dropout < 1:
            raise InputError(f"dropout is {self.dropout}: pass a value in [0, 1)")
        for name in ("hyper_layers", "static_layers"):
            if getattr(self, name) is not None:
                setattr(self, name, tuple(getattr(self, name)))
        if self.method == NO_ADAPTER and not self.memory:
            raise InputError("method none adapts nothing: add --memory (train the memory gates) or pick a method")
        if self.memory and self.kind == "prompt":
            raise InputError("--memory works with lora and padapter methods (prompt tokens would have to be read "
                             "in every segment): use ideal-lora or ideal-padapter")

    @property
    def kind(self) -> str:
        """'lora', 'prompt', 'padapter' or 'none'."""
        return self.method.removeprefix("ideal-")

    @property
    def is_hyper(self) -> bool:
        return self.method.startswith("ideal-")

    def resolve(self, num_layers: int) -> ResolvedLayers:
        """Concrete layer sets for a model with `num_layers` decoder layers."""
        middle = self.query_layer if self.query_layer is not None else num_layers // 2
        if self.is_hyper:
            hyper = self.hyper_layers if self.hyper_layers is not None else tuple(range(middle, num_layers))
            static = self.static_layers if self.static_layers is not None else tuple(range(0, middle))
        else:
            hyper = ()
            static = self.static_layers if self.static_layers is not None else tuple(range(num_layers))
            static = () if self.kind == NO_ADAPTER else static
        for layer in (*hyper, *static):
            if not 0 <= layer < num_layers:
                raise InputError(f"layer {layer} does not exist: the model has layers 0..{num_layers - 1}")
        if set(hyper) & set(static):
            raise InputError(f"layers {sorted(set(hyper) & set(static))} are both static and generated: pick one")
        if hyper and min(hyper) < middle:
            raise InputError(
                f"generated layers start at {min(hyper)} but the query vector is read entering layer {middle}: "
                "generated layers must come at or after query_layer"
            )
        return ResolvedLayers(tuple(sorted(hyper)), tuple(sorted(static)), middle)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ResolvedLayers:
    hyper: tuple[int, ...]
    static: tuple[int, ...]
    query_layer: int


def saved_meta(folder: str | Path) -> dict | None:
    """An adapter folder's adapter_config.json (config, base_model, and a shipped one's context_window);
    None if the folder holds none. Reads JSON only (no torch), so the CLI and reports can look at an
    adapter before loading a model."""
    path = Path(folder) / CONFIG_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def saved_config(folder: str | Path) -> dict | None:
    """The HyperConfig (as a dict) saved in an adapter folder; None if the folder holds none."""
    meta = saved_meta(folder)
    return meta["config"] if meta is not None else None
