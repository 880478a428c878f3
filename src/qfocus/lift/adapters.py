"""The weights LIFT fine-tunes: LoRA on the chosen projections, or Gated Memory in every attention.

    adapter = attach_lift(model, config)     # seeded init; the model equals the base model
    ...train adapter.parameters()...
    tensors = adapter.state()                # {qualified name: tensor}, what the cache stores
    adapter.detach()                         # the exact original modules are back

Both wrap the modules in place (peft's pattern; the base weights are never copied), outside any
static HyperExpert already attached, so the answer can use both. LoRA reuses the HyperExpert's
`LoRALinear` (B = 0 at init); Gated Memory is `qfocus.lift.gated`.
"""

from __future__ import annotations

import torch
from torch import nn

from qfocus.config import LiftConfig
from qfocus.errors import InputError
from qfocus.hyper.expert import TARGET_PATHS
from qfocus.hyper.lora import LoRALinear
from qfocus.lift.gated import GatedMemoryAttention
from qfocus.models import anatomy


class LiftAdapter:
    """The LIFT wrappers attached to one model, their parameters and how to remove them."""

    def __init__(self, model: nn.Module, config: LiftConfig):
        self.model, self.config = model, config
        self._originals: list[tuple[nn.Module, str, nn.Module]] = []  # (parent, attribute, original)
        with torch.random.fork_rng(devices=[]):  # a seeded init that leaves the caller's RNG alone
            torch.manual_seed(config.lift_seed)
            for _, holder in anatomy.attention_holders(model):
                if config.lift_adapter == "gated":
                    self._wrap(holder, "self_attn", GatedMemoryAttention(holder.self_attn))
                else:
                    for target in config.lift_targets:
                        parent_path, _, attribute = TARGET_PATHS[target].rpartition(".")
                        parent = holder.get_submodule(parent_path)
                        self._wrap(parent, attribute, LoRALinear(getattr(parent, attribute), config.lift_rank,
                                                                  config.lift_alpha, dropout=0.0))
        model.train(model.training)  # the new wrappers follow the model's mode

    def _wrap(self, parent: nn.Module, attribute: str, wrapper: nn.Module) -> None:
        self._originals.append((parent, attribute, getattr(parent, attribute)))
        setattr(parent, attribute, wrapper)

    def parameters(self) -> dict[str, nn.Parameter]:
        """The adapter's own parameters by qualified name (not the wrapped modules')."""
        wrappers = {id(getattr(parent, attribute)) for parent, attribute, _ in self._originals}
        return {f"{name}.{key}": p for name, module in self.model.named_modules() if id(module) in wrappers
                for key, p in module.named_parameters(recurse=False)}

    def state(self) -> dict[str, torch.Tensor]:
        """A detached CPU copy of the parameters (what `load` takes back)."""
        return {name: p.detach().to("cpu", copy=True).contiguous() for name, p in self.parameters().items()}

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        parameters = self.parameters()
        if set(tensors) != set(parameters):
            raise InputError("the cached LIFT weights do not fit this model's adapter layout: run `qfocus cache clear`")
        with torch.no_grad():
            for name, tensor in tensors.items():
                parameters[name].copy_(tensor)

    def detach(self) -> nn.Module:
        for parent, attribute, original in reversed(self._originals):
            setattr(parent, attribute, original)
        self._originals.clear()
        return self.model


def attach_lift(model: nn.Module, config: LiftConfig) -> LiftAdapter:
    """Wrap `model` with the adapter `config` names, seeded by `config.lift_seed`."""
    return LiftAdapter(model, config)
