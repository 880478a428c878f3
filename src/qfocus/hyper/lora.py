"""LoRA (Hu et al., 2021) and IDEAL-LoRA around an `nn.Linear` of the base model.

    y = W x + (α / r) · B (Aᵀ x)                 A ∈ R^{d_in×r}, B ∈ R^{r×d_out}, B = 0 at init

Static LoRA learns A and B. IDEAL-LoRA (DESIGN §1) takes A(query) ∈ R^{B×d_in×r} from the
hypernetwork and learns only B. The base layer is held, never copied; adapter tensors are fp32.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from qfocus.hyper.context import GeneratedSlot, project_down


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float, slot: GeneratedSlot | None = None):
        super().__init__()
        self.base_layer = base
        self.rank, self.scale, self.slot = rank, alpha / rank, slot
        self.dropout = nn.Dropout(dropout)
        linear = base
        while not isinstance(linear, nn.Linear):  # another adapter's wrapper (LIFT over a HyperExpert)
            linear = linear.base_layer
        self.in_features, self.out_features = linear.in_features, linear.out_features
        device = linear.weight.device
        self.qf_lora_B = nn.Parameter(torch.zeros(rank, linear.out_features, device=device))
        self.qf_lora_A = None
        if slot is None:
            self.qf_lora_A = nn.Parameter(torch.empty(linear.in_features, rank, device=device))
            nn.init.kaiming_uniform_(self.qf_lora_A.T, a=math.sqrt(5))  # nn.Linear's init, fan-in d_in

    @property
    def head_size(self) -> int:
        """Size of the generated A for one example: d_in · r."""
        return self.in_features * self.rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        h = self.dropout(x).to(self.qf_lora_B.dtype)  # (B, T, d_in)
        z = project_down(h, self.qf_lora_A, self.slot, self.rank)  # (B, T, r)
        return y + (self.scale * (z @ self.qf_lora_B)).to(y.dtype)  # (B, T, d_out)
