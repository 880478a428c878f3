"""Naive references for the HyperExpert: dense ΔW per example, applied to a plain copy of the model.

For one example with LoRA factors A (d_in × r) and B (r × d_out) at each target, the adapted
linear layer is y = (W + s·(A B)ᵀ) x: materialised here on purpose, which the library never does.
A parallel adapter is added as an explicit second MLP branch.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from qfocus.hyper.expert import TARGET_PATHS
from qfocus.models.anatomy import decoder_layers


def dense_lora_model(base: nn.Module, factors: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]], scale: float):
    """A deep copy of `base` whose target weights hold W + scale·(A B)ᵀ; factors[(layer, target)] = (A, B)."""
    model = copy.deepcopy(base)
    layers = decoder_layers(model)
    with torch.no_grad():
        for (layer, target), (a, b) in factors.items():
            linear = layers[layer].get_submodule(TARGET_PATHS[target])
            linear.weight += scale * (a @ b).T.to(linear.weight.dtype)  # (d_out, d_in)
    return model


class _MLPWithAdapter(nn.Module):
    def __init__(self, mlp: nn.Module, down: torch.Tensor, up: torch.Tensor):
        super().__init__()
        self.mlp, self.down, self.up = mlp, down, up

    def forward(self, x):
        return self.mlp(x) + torch.relu(x @ self.down) @ self.up


def dense_padapter_model(base: nn.Module, factors: dict[int, tuple[torch.Tensor, torch.Tensor]]):
    """A deep copy of `base` with a parallel adapter branch (down, up) per layer."""
    model = copy.deepcopy(base)
    layers = decoder_layers(model)
    for layer, (down, up) in factors.items():
        layers[layer].mlp = _MLPWithAdapter(layers[layer].mlp, down.detach(), up.detach())
    return model
