"""Attach the HyperExpert (or a static baseline) to a loaded causal LM by wrapping its modules.

    expert = attach(model, HyperConfig(method="ideal-lora"))
    with expert.query(query_mask):       # (B, T) bool from the prompt builder
        loss = model(input_ids, attention_mask=..., labels=...).loss
    expert.save("runs/x")                # adapter-only safetensors + JSON config
    expert.detach()                      # the exact original modules are back

With `HyperConfig(memory=True)` every attention module is also wrapped with segment-recurrent
memory attention (`qfocus.memory`); its gates are adapter parameters like the rest (saved, loaded,
trained, frozen with them) and `expert.memory` is the handle `qfocus.memory.segments.read` needs.

Wrapping follows peft's pattern: each adapted module is replaced by a wrapper holding the original
as `base_layer`; base weights are never copied or edited, and every adapter parameter's name
contains `qf_`, so freezing, counting and saving are name filters. Works for Llama, Qwen2/3,
Mistral and Gemma 3 (the same q/k/v/o and gate/up/down projection names).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from qfocus.errors import InputError
from qfocus.hyper.config import CONFIG_FILE, HyperConfig, saved_meta
from qfocus.hyper.context import GeneratedSlot, QueryState
from qfocus.hyper.generator import HyperNetwork
from qfocus.hyper.lora import LoRALinear
from qfocus.hyper.padapter import ParallelAdapterMLP
from qfocus.hyper.prompt import PromptAttention
from qfocus.hyper.reader import QueryReader
from qfocus.models.anatomy import decoder_layers

TARGET_PATHS = {
    "q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
    "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj",
}
ADAPTER_FILE = "adapter.safetensors"
FORMAT_VERSION = 1


def is_adapter_parameter(name: str) -> bool:
    return "qf_" in name


class HyperExpert:
    """A handle on the adapters attached to one model."""

    def __init__(self, model: nn.Module, config: HyperConfig):
        self.model, self.config = model, config
        self.state = QueryState()
        self._originals: list[tuple[nn.Module, str, nn.Module]] = []  # (parent, attribute, original module)
        text = model.config.get_text_config()
        self.layers = config.resolve(text.num_hidden_layers)
        self._attach(decoder_layers(model), text)
        self.memory = None  # a qfocus.memory.segments.MemoryHandle when config.memory
        if config.memory:  # after the adapters: the memory wrapper calls the (LoRA-wrapped) projections
            from qfocus.memory.segments import attach_memory

            self.memory = attach_memory(model, config.gate_init)
        model.train(model.training)  # new wrappers (and their dropout) follow the model's mode: eval stays eval
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(is_adapter_parameter(name))

    # -- attaching ---------------------------------------------------------------------------------
    def _attach(self, layers: nn.ModuleList, text) -> None:
        hidden, heads = text.hidden_size, text.num_attention_heads
        config, plan = self.config, self.layers
        sizes: dict[str, int] = {}  # hypernetwork head → size of one example's generated tensor
        for layer_index in (*plan.static, *plan.hyper):  # none for method "none"
            layer = layers[layer_index]
            index = plan.hyper.index(layer_index) if layer_index in plan.hyper else None
            if config.kind == "lora":
                for target in config.targets:
                    parent, attribute = _parent(layer, TARGET_PATHS[target])
                    wrapper = LoRALinear(getattr(parent, attribute), config.rank, config.alpha, config.dropout,
                                         self._slot(target, index))
                    self._adapt(parent, attribute, wrapper, target, sizes)
            elif config.kind == "prompt":
                wrapper = PromptAttention(layer.self_attn, hidden, heads, config.prompt_tokens, self._slot("prompt", index))
                self._adapt(layer, "self_attn", wrapper, "prompt", sizes)
            else:
                wrapper = ParallelAdapterMLP(layer.mlp, hidden, config.adapter_dim, self._slot("padapter", index))
                self._adapt(layer, "mlp", wrapper, "padapter", sizes)
        if plan.hyper:
            network = HyperNetwork(hidden, len(plan.hyper), config.code_size, sizes, config.dropout)
            network.to(next(self.model.parameters()).device)
            reader = QueryReader(layers[plan.query_layer], network, self.state, config.detach_query)
            self._replace(layers, str(plan.query_layer), reader)

    def _slot(self, head: str, index: int | None) -> GeneratedSlot | None:
        """The generated-parameter slot of a layer at `index` among the generated ones; None if static."""
        return None if index is None else GeneratedSlot(self.state, head, index)

    def _adapt(self, parent: nn.Module, attribute: str, wrapper: nn.Module, head: str, sizes: dict[str, int]) -> None:
        self._replace(parent, attribute, wrapper)
        if wrapper.slot is not None:
            sizes[head] = wrapper.head_size

    def _replace(self, parent: nn.Module, attribute: str, wrapper: nn.Module) -> None:
        self._originals.append((parent, attribute, getattr(parent, attribute)))
        setattr(parent, attribute, wrapper)

    def detach(self) -> nn.Module:
        """Put every original module back (exactly the objects that were there) and unfreeze the model."""
        if self.memory is not None:
            self.memory.detach()
            self.memory = None
        for parent, attribute, original in reversed(self._originals):
            setattr(parent, attribute, original)
        self._originals.clear()
        for parameter in self.model.parameters():
            parameter.requires_grad_(True)
        return self.model

    # -- using -------------------------------------------------------------------------------------
    def query(self, query_mask: torch.Tensor):
        """Context for forward calls whose first input holds the query tokens marked by `query_mask`."""
        return self.state.query(query_mask)

    def named_adapter_parameters(self) -> dict[str, nn.Parameter]:
        return {name: p for name, p in self.model.named_parameters() if is_adapter_parameter(name)}

    def parameter_counts(self) -> dict[str, int]:
        adapter = sum(p.numel() for p in self.named_adapter_parameters().values())
        total = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return {"adapter": adapter, "trainable": trainable, "base": total - adapter}

    # -- saving ------------------------------------------------------------------------------------
    def load_weights(self, folder: str | Path) -> None:
        """Copy the adapter tensors saved in `folder` into this expert's parameters (same layout required)."""
        folder = Path(folder)
        try:
            tensors = load_file(folder / ADAPTER_FILE)
        except Exception as error:  # safetensors raises its own error types for a cut or corrupted file
            raise InputError(f"{folder / ADAPTER_FILE} cannot be read ({str(error).splitlines()[0][:120]}): "
                             "the file is damaged; copy or train the adapter again") from None
        parameters = self.named_adapter_parameters()
        if set(tensors) != set(parameters):
            raise InputError(f"{folder}: adapter tensors do not match the model's adapter layout")
        with torch.no_grad():
            for name, tensor in tensors.items():
                parameters[name].copy_(tensor)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {name: p.detach().cpu().contiguous() for name, p in self.named_adapter_parameters().items()}
        save_file(tensors, folder / ADAPTER_FILE)
        meta = {"format": FORMAT_VERSION, "config": self.config.to_dict(), "base_model": model_identity(self.model)}
        (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return folder


def attach(model: nn.Module, config: HyperConfig | None = None) -> HyperExpert:
    """Wrap `model`'s modules with the adapters of `config` and freeze everything else."""
    return HyperExpert(model, config or HyperConfig())


def load_adapter(model: nn.Module, folder: str | Path) -> HyperExpert:
    """Attach a saved adapter to `model`; refuses an adapter trained on another base model."""
    folder = check_adapter_folder(folder)
    meta = saved_meta(folder)
    _check_identity(meta["base_model"], model_identity(model), folder)
    expert = attach(model, HyperConfig(**meta["config"]))
    try:
        expert.load_weights(folder)
    except InputError:
        expert.detach()
        raise
    return expert


def check_adapter_folder(folder: str | Path) -> Path:
    """The folder, if it holds a saved adapter; a clear error otherwise (cheap: call before loading a model)."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file() or not (folder / ADAPTER_FILE).is_file():
        raise InputError(f"{folder} is not a qfocus adapter (needs {CONFIG_FILE} and {ADAPTER_FILE})")
    return folder


def model_identity(model: nn.Module) -> dict:
    """What an adapter remembers of its base model: architecture and a checksum of the embeddings."""
    text = model.config.get_text_config()
    embedding = model.get_input_embeddings().weight.detach()
    return {
        "model_type": text.model_type, "num_hidden_layers": text.num_hidden_layers,
        "hidden_size": text.hidden_size, "vocab_size": text.vocab_size,
        "name_or_path": getattr(model.config, "_name_or_path", ""),
        "embedding_checksum": round(float(embedding[:64].double().abs().sum()), 3),
    }


def _check_identity(saved: dict, current: dict, folder: Path) -> None:
    keys = ("model_type", "num_hidden_layers", "hidden_size", "vocab_size")
    differ = [f"{k} {saved[k]} vs {current[k]}" for k in keys if saved[k] != current[k]]
    checksum_off = abs(saved["embedding_checksum"] - current["embedding_checksum"]) > 1e-3 * max(1.0, abs(saved["embedding_checksum"]))
    if differ or checksum_off:
        what = ", ".join(differ) if differ else "same architecture but different weights"
        raise InputError(
            f"adapter {folder} was trained on a different base model ({saved.get('name_or_path') or saved['model_type']}; "
            f"{what}): load it onto the model it was trained on"
        )


def _parent(root: nn.Module, path: str) -> tuple[nn.Module, str]:
    *parents, attribute = path.split(".")
    for name in parents:
        root = getattr(root, name)
    return root, attribute
