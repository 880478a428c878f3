"""Gated Memory (LIFT v2, DESIGN §10): an attention adapter that mixes memorised knowledge into
each head of every attention layer, for every family `qfocus.models.anatomy` knows.

Per layer and query head h, from the head's query before RoPE q (memory is content, not position):

    m(q) = W₂ SiLU(W₁ q)                          W₁: d → 2d, W₂: 2d → d       (memory)
    u(q) = w₂ SiLU(W₁′ q)                         W₁′: d → ⌊√d⌋, w₂: ⌊√d⌋ → 1
    g(q) = σ(3(u − 1)) − σ(−3)                                                 (gate)
    o_h  = (1 − g) · softmax-attention_h + g · m(q)

The reference gate is σ(3(u − 1)) with every weight random, so it opens to about 0.05 (more or less
per token) and the model differs from the base before any training. Here w₂ starts at zero and the
gate is shifted by σ(−3), so g ≡ 0 and the wrapped model equals the base model exactly at
initialisation; w₂ receives gradient from the first step (W₁′, W₁ and W₂ from the second), as
LoRA's B does. The shift lets g reach −σ(−3) ≈ −0.047 at the lowest, which the loss keeps small.
All memory and gate weights are per head (grouped, one einsum per projection), kept in fp32.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from qfocus.models import anatomy

GATE_SHIFT = 1.0 / (1.0 + math.exp(3.0))  # σ(−3): the reference gate's value at u = 0


def _grouped(heads: int, fan_in: int, fan_out: int, device) -> nn.Parameter:
    """(H, fan_in, fan_out) weights, each head initialised like an nn.Linear (kaiming, a = √5)."""
    weight = torch.empty(heads, fan_out, fan_in, device=device)
    for w in weight:
        nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    return nn.Parameter(weight.transpose(1, 2).contiguous())


class GatedMemoryAttention(anatomy.AttentionWrapper):
    def __init__(self, base: nn.Module):
        super().__init__()
        self.base_layer = base
        heads, d = base.config.num_attention_heads, base.head_dim
        gate_width = int(math.sqrt(d))
        device = base.q_proj.weight.device
        self.qf_lift_mem_in = _grouped(heads, d, 2 * d, device)  # W₁ (H, d, 2d)
        self.qf_lift_mem_out = _grouped(heads, 2 * d, d, device)  # W₂ (H, 2d, d)
        self.qf_lift_gate_in = _grouped(heads, d, gate_width, device)  # W₁′ (H, d, ⌊√d⌋)
        self.qf_lift_gate_out = nn.Parameter(torch.zeros(heads, gate_width, 1, device=device))  # w₂, zero: g ≡ 0

    def memory_and_gate(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """m(q) (B, H, T, d) and g(q) (B, H, T, 1) from queries before RoPE (B, H, T, d), in fp32."""
        q = q.float()
        m = torch.einsum("bhtf,hfg->bhtg", F.silu(torch.einsum("bhtd,hdf->bhtf", q, self.qf_lift_mem_in)),
                         self.qf_lift_mem_out)  # (B, H, T, d)
        u = torch.einsum("bhtf,hfo->bhto", F.silu(torch.einsum("bhtd,hdf->bhtf", q, self.qf_lift_gate_in)),
                         self.qf_lift_gate_out)  # (B, H, T, 1)
        return m, torch.sigmoid(3.0 * (u - 1.0)) - GATE_SHIFT

    def forward(self, hidden_states: torch.Tensor, position_embeddings=None, attention_mask=None, **kwargs):
        attn = self.base_layer  # kwargs carry the KV cache (under anatomy.CACHE_ARGUMENT)
        heads, weights, q = anatomy.attention_heads(attn, hidden_states, position_embeddings, attention_mask,
                                                    **kwargs)  # (B, T, H, e), q (B, H, T, d)
        m, g = self.memory_and_gate(q)
        m, g = m.transpose(1, 2), g.transpose(1, 2)  # (B, T, H, d), (B, T, H, 1)
        mixed = heads + (g * (m - heads.float())).to(heads.dtype)  # (1 − g)·attention + g·m
        batch, length = hidden_states.shape[:2]
        return attn.o_proj(mixed.reshape(batch, length, -1).contiguous()), weights


def attach_gated_memory(model: nn.Module) -> anatomy.WrappedAttention:
    """Wrap every layer's attention with Gated Memory; `.detach()` puts the originals back."""
    return anatomy.wrap_attention(model, lambda index, attn: GatedMemoryAttention(attn))
