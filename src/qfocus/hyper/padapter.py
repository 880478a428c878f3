"""Parallel adapter (He et al., 2022) and IDEAL-PAdapter beside a decoder layer's MLP.

    y = MLP(x) + ReLU(x W_down) W_up             W_down ∈ R^{d×m}, W_up ∈ R^{m×d}, W_up = 0 at init

Static: both learned. IDEAL-PAdapter: W_down(query) ∈ R^{B×d×m} from the hypernetwork, W_up learned.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from qfocus.hyper.context import GeneratedSlot, project_down


class ParallelAdapterMLP(nn.Module):
    def __init__(self, base: nn.Module, hidden: int, width: int, slot: GeneratedSlot | None = None):
        super().__init__()
        self.base_layer = base
        self.width, self.slot = width, slot
        device = next(base.parameters()).device
        self.qf_up = nn.Parameter(torch.zeros(width, hidden, device=device))
        self.qf_down = None
        if slot is None:
            self.qf_down = nn.Parameter(torch.empty(hidden, width, device=device))
            nn.init.kaiming_uniform_(self.qf_down.T, a=math.sqrt(5))
        self.head_size = hidden * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        h = x.to(self.qf_up.dtype)  # (B, T, d)
        z = torch.relu(project_down(h, self.qf_down, self.slot, self.width))  # (B, T, m)
        return y + (z @ self.qf_up).to(y.dtype)  # (B, T, d)
