"""The hypernetwork of the Query-aware HyperExpert (IDEAL, DESIGN §1; after Hyperdecoders).

    q̄ (B, d) ─ RMSNorm ─ dropout ─ Linear(d → n·c) ─ reshape (B, n, c) ─ ReLU ─ dropout ─┬─ head_t: Linear(c → size_t)
                                                                                          └─ ... one head per target

n is the number of generated layers and c the code size; each layer gets its own code, the heads
are shared across layers. A head's output is reshaped by the adapter that reads it (e.g. d_in × r
for a LoRA down-projection). Heads start with "hyperfanin"-style tiny uniform weights and zero bias.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class HyperNetwork(nn.Module):
    def __init__(self, hidden: int, num_layers: int, code_size: int, head_sizes: dict[str, int], dropout: float):
        super().__init__()
        self.num_layers, self.code_size = num_layers, code_size
        self.norm = nn.RMSNorm(hidden)
        self.dropout = nn.Dropout(dropout)
        self.codes = nn.Linear(hidden, num_layers * code_size)
        self.heads = nn.ModuleDict({name: nn.Linear(code_size, size) for name, size in head_sizes.items()})
        for head in self.heads.values():
            bound = 1e-3 * math.sqrt(3.0 / (head.in_features * head.out_features))
            nn.init.uniform_(head.weight, -bound, bound)
            nn.init.zeros_(head.bias)

    def forward(self, query: torch.Tensor) -> dict[str, torch.Tensor]:
        """query (B, d) → {head: (B, n, size)}."""
        codes = self.codes(self.dropout(self.norm(query)))  # (B, n·c)
        codes = codes.view(query.shape[0], self.num_layers, self.code_size)  # (B, n, c)
        codes = self.dropout(torch.relu(codes))
        return {name: head(codes) for name, head in self.heads.items()}  # each (B, n, size)


def mean_over_mask(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of hidden (B, T, d) over the positions where mask (B, T) is true → (B, d)."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    counts = weights.sum(1).clamp_min(1.0)  # (B, 1)
    return (hidden * weights).sum(1) / counts
