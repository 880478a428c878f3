"""FocusLLM's attention (DESIGN.md §11): each layer's attention, wrapped, in one of three modes set by
the driver (`qfocus.focus.read`) through a shared `FocusContext`:

- off: the unwrapped module (a plain forward of the model is unchanged);
- chunks: a batch of chunks, each `past` (post-RoPE keys/values of what it has read) + new tokens
  whose LAST is the candidate token: the candidate uses its own q/k/v/o projections (initialised
  from the base ones), the others the base ones; the new non-candidate keys/values join `past`, the
  candidate's key (before RoPE) and value are collected for the local context;
- local: the local context attends to every chunk's candidate key/value first (re-rotated at
  positions 0..K-1, as the reference caches keys before RoPE), then causally to itself.

Projections, q/k norms, RoPE and the attention function (SDPA or eager, with an additive mask) come from
`qfocus.models.anatomy`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from qfocus.models import anatomy

KV = tuple[torch.Tensor, torch.Tensor]  # keys (B, H, T, d), values (B, H, T, e)


class CandidateProjections(nn.Module):
    """The candidate token's q/k/v/o projections of one layer, copies of the base layer's (so an
    untrained model's candidate equals an ordinary token). The base attention is kept unregistered,
    for its head size and q/k norms, which the candidate shares."""

    def __init__(self, base: nn.Module):
        super().__init__()
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            setattr(self, name, copy.deepcopy(getattr(base, name)))
            getattr(self, name).requires_grad_(True)
        self.__dict__["base"] = base  # not a submodule: its weights are the model's, not the adapter's

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__["base"], name)


@dataclass
class FocusStep:
    """What one forward of the wrapped model does (the driver's value; layers fill `out_*`)."""

    mode: str  # "chunks" or "local"
    mask: torch.Tensor  # (B, 1, T, S) additive float mask over [past or candidates; new tokens]
    sliding_mask: torch.Tensor | None = None  # the same for layers with a sliding window
    past: dict[int, KV] = field(default_factory=dict)  # chunks: per layer, post-RoPE keys/values read so far
    candidates: dict[int, KV] = field(default_factory=dict)  # local: per layer, (1, H, K, d) keys before RoPE
    candidate_positions: torch.Tensor | None = None  # local: (1, K) = 0..K-1
    out_past: dict[int, KV] = field(default_factory=dict)  # chunks: past + the new non-candidate tokens
    out_candidates: dict[int, KV] = field(default_factory=dict)  # chunks: (B, H, 1, d) before RoPE, (B, H, 1, e)


class FocusContext:
    """Shared by the wrapped layers: the step of the forward in progress (None: plain attention)."""

    def __init__(self, window: int | None = None) -> None:
        self.step: FocusStep | None = None
        self.window = window  # the model's sliding window (the layers that have one), for the masks


class FocusAttention(anatomy.AttentionWrapper):
    """One layer's attention with FocusLLM's candidate token and candidate memory."""

    def __init__(self, base: nn.Module, layer: int, context: FocusContext, rotary_at):
        super().__init__()
        self.base_layer, self.layer, self.context = base, layer, context
        self.__dict__["rotary_at"] = rotary_at  # this layer's RoPE at any positions (anatomy.rotary_at)
        self.candidate = CandidateProjections(base)
        self.softcap = getattr(base.config, "attn_logit_softcapping", None)

    def forward(self, hidden_states: torch.Tensor, position_embeddings=None, attention_mask=None, **kwargs):
        step = self.context.step
        if step is None:
            return self.base_layer(hidden_states, position_embeddings, attention_mask, **kwargs)
        attn, rotate = self.base_layer, anatomy.rotate(self.base_layer)
        batch, length, _ = hidden_states.shape
        q, k, v = anatomy.project(attn, hidden_states)  # (B, Hq, T, d), (B, H, T, d), (B, H, T, e) before RoPE
        chunks = step.mode == "chunks"
        if chunks:  # the last token of every row is its chunk's candidate
            qc, kc, vc = anatomy.project(self.candidate, hidden_states[:, -1:])
            q, k, v = torch.cat([q[:, :, :-1], qc], 2), torch.cat([k[:, :, :-1], kc], 2), torch.cat([v[:, :, :-1], vc], 2)
        cos, sin = position_embeddings
        q_rot, k_rot = rotate(q, k, cos, sin)
        if chunks:
            past_k, past_v = step.past.get(self.layer, (k_rot[:, :, :0], v[:, :, :0]))
            keys, values = torch.cat([past_k, k_rot], 2), torch.cat([past_v, v], 2)  # (B, H, P + T, d)
            step.out_past[self.layer] = (keys[:, :, :-1], values[:, :, :-1])  # all but the candidate
            step.out_candidates[self.layer] = (k[:, :, -1:].clone(), v[:, :, -1:].clone())  # not views of every token
        elif self.layer in step.candidates:
            cand_k, cand_v = step.candidates[self.layer]  # (1, H, K, d) before RoPE
            cand_cos, cand_sin = self.rotary_at(step.candidate_positions, q)
            _, cand_k = rotate(cand_k, cand_k, cand_cos, cand_sin)
            expand = (batch, -1, -1, -1)
            keys = torch.cat([cand_k.expand(expand), k_rot], 2)
            values = torch.cat([cand_v.expand(expand), v], 2)
        else:  # no chunks: the local context alone
            keys, values = k_rot, v
        mask = step.sliding_mask if anatomy.sliding_window(attn) and step.sliding_mask is not None else step.mask
        extra = {"softcap": self.softcap} if self.softcap is not None else {}
        heads, _ = anatomy.attention_function(attn)(
            attn, q_rot, keys, values, mask, dropout=0.0, scaling=attn.scaling, **extra,
        )  # (B, T, Hq, e): the model's own attention function (SDPA or eager) with our additive mask
        flat = heads.reshape(batch, length, -1)
        if chunks:
            out = torch.cat([attn.o_proj(flat[:, :-1]), self.candidate.o_proj(flat[:, -1:])], 1)
        else:
            out = attn.o_proj(flat)
        return out, None
