"""Segment-recurrent attention: a thin wrapper that adds the compressive memory to a model's own
attention module (Llama, Qwen2/3, Mistral, Gemma 3), using its projections, q/k norms, rotary
embedding and attention function as `qfocus.models.anatomy` describes them.

The memory reads and writes keys before RoPE, so the wrapper takes the projections from the anatomy,
rotates them with the family's RoPE and calls the model's registered attention function on the
rotated tensors. Its equality with the unwrapped module is tested for every family.

The wrapper holds no state. Everything recurrent sits in a `ReadState` value (memories, the current
segment's keys and values, q̄ per layer) that the segment driver (`qfocus.memory.segments`) passes
in through a shared `MemoryContext` and takes back after each forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from qfocus.memory.compressive import Memory, mix, query_signal, read
from qfocus.models import anatomy


GATE_NAMES = ("qf_beta", "qf_gate_weight", "qf_gate_bias")  # MemoryAttention's learned parameters


@dataclass(frozen=True)
class Window:
    """The current segment's tokens seen so far by one layer (local attention spans exactly these)."""

    keys: torch.Tensor  # (B, H, L, d) before RoPE: what the memory will store
    rotated: torch.Tensor  # (B, H, L, d) after RoPE: what local attention uses
    values: torch.Tensor  # (B, H, L, e)
    mask: torch.Tensor  # (B, L) bool, False for padding

    def extend(self, keys, rotated, values, mask) -> "Window":
        return Window(torch.cat([self.keys, keys], 2), torch.cat([self.rotated, rotated], 2),
                      torch.cat([self.values, values], 2), torch.cat([self.mask, mask], 1))

    @property
    def length(self) -> int:
        return self.keys.shape[2]


@dataclass(frozen=True)
class ReadState:
    """The recurrent value of a read: per layer, the memory of finished segments, the current
    segment's window, and the query signal q̄ taken from the first segment."""

    memories: dict[int, Memory] = field(default_factory=dict)
    windows: dict[int, Window] = field(default_factory=dict)
    q_bars: dict[int, torch.Tensor] = field(default_factory=dict)
    tokens: int = 0  # positions already written to memory


class MemoryContext:
    """Hands a `ReadState` to the wrapped layers for one forward and collects what they return."""

    def __init__(self) -> None:
        self.state: ReadState | None = None
        self.token_mask: torch.Tensor | None = None  # (B, T) of this forward's tokens
        self.query_mask: torch.Tensor | None = None  # (B, T), only in the forward that holds the query
        self.windows: dict[int, Window] = {}
        self.q_bars: dict[int, torch.Tensor] = {}


class MemoryAttention(anatomy.AttentionWrapper):
    """Wraps one attention module: local attention over the current segment, mixed with the memory
    of earlier segments through a per-head gate β and a per-token query-memory gate (DESIGN §2)."""

    def __init__(self, base: nn.Module, layer: int, context: MemoryContext, gate_init: float = 0.0):
        super().__init__()
        self.base_layer, self.layer, self.context = base, layer, context
        heads = base.config.num_attention_heads
        device = next(base.parameters()).device
        self.qf_beta = nn.Parameter(torch.full((heads,), float(gate_init), device=device))  # g = sigmoid(β) per head
        self.qf_gate_weight = nn.Parameter(torch.zeros(heads, base.head_dim, device=device))  # g_m's w
        self.qf_gate_bias = nn.Parameter(torch.zeros(heads, device=device))  # g_m's b
        self._rotate = anatomy.rotate(base)
        self.sliding_window = anatomy.sliding_window(base)

    def forward(self, hidden_states: torch.Tensor, position_embeddings=None, attention_mask=None, **kwargs):
        attn, ctx = self.base_layer, self.context
        batch, length, _ = hidden_states.shape
        q, k, v = anatomy.project(attn, hidden_states)  # (B, Hq, T, d), (B, H, T, d), (B, H, T, e) before RoPE
        cos, sin = position_embeddings
        q_rot, k_rot = self._rotate(q, k, cos, sin)

        state = ctx.state
        if state is None:
            raise RuntimeError("a model with memory attention reads through qfocus.memory.segments.read(...), "
                               "not a plain forward call")
        token_mask = ctx.token_mask if ctx.token_mask is not None else torch.ones(batch, length, dtype=torch.bool,
                                                                                 device=q.device)
        window = state.windows.get(self.layer)
        window = Window(k, k_rot, v, token_mask) if window is None else window.extend(k, k_rot, v, token_mask)
        ctx.windows[self.layer] = window
        if ctx.query_mask is not None:
            ctx.q_bars[self.layer] = query_signal(q, ctx.query_mask, q.shape[1] // k.shape[1])

        interface = anatomy.attention_function(attn)
        plain_causal = (anatomy.uses_sdpa(attn) and window.length == length and bool(window.mask.all())
                        and (self.sliding_window is None or self.sliding_window >= length))
        mask = None if plain_causal else self._local_mask(window, length, q.dtype)  # None: SDPA's causal kernel
        local, weights = interface(
            attn, q_rot, window.rotated, window.values, mask,
            dropout=attn.attention_dropout if self.training else 0.0, scaling=attn.scaling,
            sliding_window=self.sliding_window,
        )  # (B, T, Hq, e)
        memory = state.memories.get(self.layer)
        if memory is not None:  # after the first segment: A = g·[(1−g_m)A_mem + g_m·A_qmem] + (1−g)·A_dot
            a_mem, a_qmem = read(memory, q)
            local = mix(local.transpose(1, 2), a_mem, a_qmem, self.qf_beta, self.qf_gate_weight,
                        self.qf_gate_bias).transpose(1, 2)
        return attn.o_proj(local.reshape(batch, length, -1).contiguous()), weights

    def _local_mask(self, window: Window, length: int, dtype: torch.dtype) -> torch.Tensor:
        """Additive (B, 1, T, L) mask: causal over the window, no padding keys, and the layer's
        sliding window if it has one."""
        total = window.length
        query_pos = torch.arange(total - length, total, device=window.mask.device)[:, None]  # (T, 1)
        key_pos = torch.arange(total, device=window.mask.device)[None, :]  # (1, L)
        allowed = key_pos <= query_pos
        if self.sliding_window is not None:
            allowed = allowed & (query_pos - key_pos < self.sliding_window)
        allowed = allowed[None, None] & window.mask[:, None, None, :]  # (B, 1, T, L)
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


def collect(context: MemoryContext, state: ReadState) -> ReadState:
    """The state after a forward: the wrappers' windows and q̄ merged into `state`."""
    return replace(state, windows={**state.windows, **context.windows}, q_bars={**state.q_bars, **context.q_bars})
