"""The KV-block attention wrapper: each decoder layer's attention module, reading from and writing
to the per-sequence `Row`s of `qfocus.blocks.rows` instead of a KV cache.

The wrapper holds no state: the driver (`qfocus.blocks.read`) hands it a `BlockState` through a
shared `BlockContext` for one forward and takes the new rows back afterwards. The projections,
q/k norms, RoPE and sliding windows come from `qfocus.models.anatomy`. Sequences of a batch are
right-padded: `counts[b]` of this forward's tokens are real, and each row is attended on its own,
so a batch gives the answers of one sequence at a time (the reference cannot batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from qfocus.blocks.rows import LayerPlan, Rotation, Row, attend
from qfocus.config import BlockConfig
from qfocus.models import anatomy


@dataclass(frozen=True)
class BlockState:
    """The recurrent value of a read: per layer, one `Row` per sequence of the batch."""

    layers: dict[int, tuple[Row, ...]]
    lengths: tuple[int, ...]  # tokens read per sequence

    def stored_bytes(self) -> int:
        """Bytes of keys, values and block representatives held, all layers and sequences."""
        return sum(row.stored_bytes() for rows in self.layers.values() for row in rows)


class BlockContext:
    """Hands a `BlockState` to the wrapped layers for one forward and collects their new rows."""

    def __init__(self) -> None:
        self.state: BlockState | None = None
        self.counts: list[int] = []  # real tokens of each sequence in this forward
        self.question: torch.Tensor | None = None  # (B, T) bool, only in the forward holding the question
        self.rows: dict[int, tuple[Row, ...]] = {}


class BlockAttention(anatomy.AttentionWrapper):
    """Wraps one attention module: sinks + local window + retrieved blocks (DESIGN §9)."""

    def __init__(self, base: nn.Module, layer: int, context: BlockContext, config: BlockConfig, embedding):
        super().__init__()
        self.base_layer, self.layer, self.context = base, layer, context
        self.plan = LayerPlan.of(config, anatomy.sliding_window(base))
        self.rotation = Rotation(anatomy.rotate(base), embedding, config.n_local)
        self.softcap = getattr(base.config, "attn_logit_softcapping", None)

    def forward(self, hidden_states: torch.Tensor, position_embeddings=None, attention_mask=None, **kwargs):
        attn, ctx = self.base_layer, self.context
        if ctx.state is None:
            raise RuntimeError("a model with block attention reads through qfocus.blocks.read(...), not a plain forward call")
        batch, length, _ = hidden_states.shape
        q, k, v = anatomy.project(attn, hidden_states)  # (B, Hq, T, d), (B, H, T, d), (B, H, T, e) before RoPE
        cos, sin = position_embeddings
        q_rot, k_rot = self.rotation.rotate(q, k, cos, sin)
        rows = ctx.state.layers.get(self.layer) or tuple(
            Row.empty(k.shape[1], q.shape[1], k.shape[-1], v.shape[-1], k) for _ in range(batch))
        out = q.new_zeros(batch, length, q.shape[1], v.shape[-1])  # (B, T, Hq, e): padding stays 0
        new_rows = []
        for b, (row, count) in enumerate(zip(rows, ctx.counts)):
            if count == 0:
                new_rows.append(row)
                continue
            question = None if ctx.question is None else ctx.question[b, :count]
            out[b, :count], row = attend(row, self.plan, q[b, :, :count], k[b, :, :count], v[b, :, :count],
                                         (q_rot[b, :, :count], k_rot[b, :, :count]), self.rotation, attn.scaling,
                                         question, self.softcap)
            new_rows.append(row)
        ctx.rows[self.layer] = tuple(new_rows)
        return attn.o_proj(out.reshape(batch, length, -1)), None
