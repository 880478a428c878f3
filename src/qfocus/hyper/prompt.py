"""Adaption prompts (LLaMA-Adapter, Zhang et al., 2023) and IDEAL-Prompt around an attention module.

Each adapted layer gets P extra key/value tokens. Every query attends to them separately from the
sequence (softmax over the P prompt keys alone), and their contribution passes through a per-head
gate that starts at zero, so the model equals the base model at step 0:

    out = Attention(x) + W_o · [ g_h · softmax(q_h K_pᵀ · scale) V_p ]_h

K_p, V_p come from the layer's own k/v projections (and Gemma/Qwen3 k-norm) applied to the prompt
vectors, RMS-normalised first because those projections expect the layer's normalised inputs (a
generated prompt starts tiny, a static one would otherwise need its scale learned); no rotary position; queries get the layer's own q-norm and RoPE. The prompt vectors
(P × d) are learned (static) or generated per example from the query (IDEAL-Prompt, B × P × d).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from qfocus.hyper.context import GeneratedSlot
from qfocus.models import anatomy


class PromptAttention(anatomy.AttentionWrapper):
    def __init__(self, base: nn.Module, hidden: int, num_heads: int, num_tokens: int, slot: GeneratedSlot | None = None):
        super().__init__()
        self.base_layer = base
        self.num_tokens, self.num_heads, self.hidden, self.slot = num_tokens, num_heads, hidden, slot
        device = base.q_proj.weight.device
        self.qf_gate = nn.Parameter(torch.zeros(num_heads, device=device))
        self.qf_prompt = None
        if slot is None:
            self.qf_prompt = nn.Parameter(torch.randn(num_tokens, hidden, device=device))
        self.head_size = num_tokens * hidden
        self._rotate = anatomy.rotate(base)  # the family's own RoPE

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        out, weights = self.base_layer(hidden_states, *args, **kwargs)
        return out + self._prompt_attention(hidden_states, kwargs["position_embeddings"]), weights

    def _prompt_attention(self, x: torch.Tensor, position_embeddings) -> torch.Tensor:
        attn, (batch, length, _) = self.base_layer, x.shape
        head_dim, dtype = attn.head_dim, x.dtype
        if self.slot is None:
            prompt = self.qf_prompt.expand(batch, -1, -1)  # (B, P, d)
        else:
            prompt = self.slot().view(batch, self.num_tokens, self.hidden)  # (B, P, d)
        prompt = F.rms_norm(prompt, (self.hidden,), eps=1e-6).to(dtype)  # (B, P, d), unit RMS like normed inputs
        q = attn.q_proj(x).view(batch, length, -1, head_dim).transpose(1, 2)  # (B, h, T, hd)
        k = attn.k_proj(prompt).view(batch, self.num_tokens, -1, head_dim).transpose(1, 2)  # (B, kvh, P, hd)
        v = attn.v_proj(prompt).view(batch, self.num_tokens, -1, head_dim).transpose(1, 2)  # (B, kvh, P, hd)
        if hasattr(attn, "q_norm"):  # Gemma 3, Qwen3
            q, k = attn.q_norm(q), attn.k_norm(k)
        cos, sin = position_embeddings
        q, _ = self._rotate(q, q, cos, sin)  # prompt keys carry no position
        groups = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)  # (B, h, P, hd)
        scores = (q @ k.transpose(-1, -2)).float() * attn.scaling  # (B, h, T, P)
        mixed = scores.softmax(-1).to(dtype) @ v  # (B, h, T, hd)
        mixed = mixed * self.qf_gate.to(dtype).view(1, -1, 1, 1)  # zero-initialised gate per head
        mixed = mixed.transpose(1, 2).reshape(batch, length, -1)  # (B, T, h·hd)
        return F.linear(mixed, attn.o_proj.weight)  # (B, T, d), o_proj's bias is already in `out`
