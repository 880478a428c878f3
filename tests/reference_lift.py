"""A naive Gated Memory attention for the Llama family: one head at a time, plain matmuls, explicit
causal softmax, the gate and memory written out as in LIFT's equations (DESIGN §10)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def rope(x: torch.Tensor, positions: torch.Tensor, base: float) -> torch.Tensor:
    """Llama's rotate-half RoPE of x (T, d) at integer positions (T,)."""
    d = x.shape[-1]
    inv = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
    angles = positions.float()[:, None] * inv[None, :]  # (T, d/2)
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
    rotated = torch.cat([-x[..., d // 2:], x[..., : d // 2]], -1)
    return x * cos + rotated * sin


def gated_attention(attn, wrapper, hidden: torch.Tensor, rope_base: float) -> torch.Tensor:
    """Output of one Llama attention layer with Gated Memory for hidden (T, D)."""
    length, heads, kv_heads, d = hidden.shape[0], attn.config.num_attention_heads, attn.config.num_key_value_heads, attn.head_dim
    positions = torch.arange(length)
    q_all = hidden @ attn.q_proj.weight.T  # (T, H·d)
    k_all = hidden @ attn.k_proj.weight.T
    v_all = hidden @ attn.v_proj.weight.T
    causal = torch.ones(length, length).tril().bool()
    outputs = []
    for h in range(heads):
        g_kv = h // (heads // kv_heads)
        q = q_all[:, h * d:(h + 1) * d]  # (T, d) before RoPE
        k = rope(k_all[:, g_kv * d:(g_kv + 1) * d], positions, rope_base)
        v = v_all[:, g_kv * d:(g_kv + 1) * d]
        scores = (rope(q, positions, rope_base) @ k.T) * d ** -0.5
        attention = scores.masked_fill(~causal, float("-inf")).softmax(-1) @ v  # (T, d)
        memory = F.silu(q @ wrapper.qf_lift_mem_in[h]) @ wrapper.qf_lift_mem_out[h]  # (T, d)
        u = F.silu(q @ wrapper.qf_lift_gate_in[h]) @ wrapper.qf_lift_gate_out[h]  # (T, 1)
        gate = torch.sigmoid(3 * (u - 1)) - torch.sigmoid(torch.tensor(-3.0))
        outputs.append((1 - gate) * attention + gate * memory)
    return torch.cat(outputs, -1) @ attn.o_proj.weight.T  # (T, D)
