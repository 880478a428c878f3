"""One sequence's KV blocks in one layer, and one execution block of attention over them (Q-LLM,
InfLLM, StreamingLLM; DESIGN §9).

Every earlier token j is, for a query at position i, in exactly one of these places:

- **local** (i − j < n_local): attended at its true distance, as the model itself would;
- a **sink** (j < n_init) or **waiting** (past the local window, not yet in a complete block):
  always attended, at distance n_local;
- in a **stored block** of `block_size` tokens: attended, at distance n_local, only when the block
  is among the top-k the execution block retrieved.

"At distance n_local" is InfLLM's position scheme (`block_positions="window"`): such keys are
rotated at position 0 and the query at position n_local, so no relative distance exceeds what the
model saw in training however long the document. `"original"` keeps every key at its document
position instead (with every block retrieved this is exactly full attention; tested).

A block is stored once all its tokens are n_local behind the next token; it is represented by
the mean of its r keys that received the most local attention, per query head (InfLLM's
representative keys). Retrieval scores a block by (eq. Q-LLM §3)

    s_m = Σ_h K̄_m,h · q̄_h(chunk) + w · Σ_h K̄_m,h · q̄_h(question)

with q̄(chunk) the mean query of the execution block and q̄(question) the mean query of the
question's tokens, both rotated at position n_local; the k best blocks are attended in document
order. ThinK (`kv_key_keep` < 1): a stored block keeps only that share of its key channels per KV
head, those with the largest |q_c|·‖K_c‖ where q_c is the question's root-mean-square query on
channel c (the current queries' before the question is read); the attention reads the pruned keys
as zeros there. Layers with a sliding window of their own (Gemma 3's local layers) keep only that window,
as the model does. With top-k 0 (StreamingLLM) nothing is stored: sinks + window, constant memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from qfocus.config import BlockConfig


@dataclass(frozen=True)
class LayerPlan:
    """What one layer keeps: a layer with its own sliding window has no sinks, blocks or far keys."""

    n_init: int
    n_local: int
    block_size: int
    topk: int
    representatives: int
    question_weight: float
    far: bool  # whether keys beyond the local window are attended at all
    original_positions: bool
    key_keep: float = 1.0  # ThinK: share of key channels a stored block keeps

    @classmethod
    def of(cls, config: BlockConfig, sliding_window: int | None) -> "LayerPlan":
        if sliding_window is not None:  # attend exactly the model's own window
            return cls(0, sliding_window, config.block_size, 0, 1, 0.0, False, False)
        return cls(config.n_init, config.n_local, config.block_size, config.topk, config.representatives,
                   config.question_weight, True, config.block_positions == "original", config.kv_key_keep)


@dataclass(frozen=True)
class Rotation:
    """One layer's RoPE for keys and queries outside the model's own forward."""

    rotate: Callable  # the family's apply_rotary_pos_emb(q, k, cos, sin)
    embedding: Callable  # (positions (1, T), like) -> (cos, sin), the decoder's rotary embedding
    n_local: int

    def at(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x (h, T, d) rotated at `positions` (T,), or at one position for every row when (1,)."""
        cos, sin = self.embedding(positions[None], x)  # (1, T, d)
        return self.rotate(x[None], x[None], cos, sin)[0][0]

    def far(self, x: torch.Tensor) -> torch.Tensor:
        """x (h, T, d) rotated at position n_local: where a query sits for keys beyond its window."""
        return self.at(x, torch.tensor([self.n_local], device=x.device))


@dataclass(frozen=True)
class Row:
    """One sequence's keys and values in one layer (the recurrent state of `attend`)."""

    keys: torch.Tensor  # (H, R, d) before RoPE: the sinks, then the tokens not in a stored block
    rotated: torch.Tensor  # (H, R, d) the same keys after RoPE at their positions
    values: torch.Tensor  # (H, R, e)
    positions: torch.Tensor  # (R,) long
    received: torch.Tensor  # (Hq, R) float32: local attention each key received (picks representatives)
    block_keys: tuple[torch.Tensor, ...]  # stored blocks, each (H, B, d) before RoPE, or (H, B, d') after ThinK
    block_channels: tuple[torch.Tensor | None, ...]  # each block's kept key channels (H, d'), None: all
    block_values: tuple[torch.Tensor, ...]  # each (H, B, e)
    block_starts: tuple[int, ...]  # each block's first position
    representative: torch.Tensor  # (N, Hq, d)
    question: torch.Tensor | None  # (Hq, d) the question's mean query, rotated at n_local
    channel_scale: torch.Tensor | None  # (Hq, d) the question's root-mean-square query per channel (ThinK)
    length: int  # tokens read

    @classmethod
    def empty(cls, heads: int, query_heads: int, dim: int, value_dim: int, like: torch.Tensor) -> "Row":
        new = lambda *shape, dtype=like.dtype: torch.zeros(shape, dtype=dtype, device=like.device)  # noqa: E731
        return cls(new(heads, 0, dim), new(heads, 0, dim), new(heads, 0, value_dim),
                   new(0, dtype=torch.long), new(query_heads, 0, dtype=torch.float32), (), (), (), (),
                   new(0, query_heads, dim), None, None, 0)

    def stored_bytes(self) -> int:
        """Bytes of keys, values and representatives this row holds."""
        tensors = [self.keys, self.rotated, self.values, self.representative, *self.block_keys, *self.block_values,
                   *(c for c in self.block_channels if c is not None)]
        return sum(t.numel() * t.element_size() for t in tensors)


def select_blocks(representative: torch.Tensor, chunk_query: torch.Tensor, question: torch.Tensor | None,
                  weight: float, topk: int) -> list[int]:
    """Indices (in document order) of the top-k blocks for queries whose mean is `chunk_query` (Hq, d);
    `representative` (N, Hq, d); every block when there are at most k."""
    count = representative.shape[0]
    if count <= topk:
        return list(range(count))
    if topk == 0:
        return []
    target = chunk_query.float() if question is None else chunk_query.float() + weight * question.float()  # (Hq, d)
    scores = torch.einsum("nhd,hd->n", representative.float(), target)  # (N,) summed over heads
    return sorted(scores.topk(topk).indices.tolist())


def attend(row: Row, plan: LayerPlan, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rotated: tuple,
           rotation: Rotation, scaling: float, question_mask: torch.Tensor | None = None,
           softcap: float | None = None) -> tuple[torch.Tensor, Row]:
    """One execution block of c tokens of one sequence: q (Hq, c, d), k (H, c, d), v (H, c, e) before
    RoPE; `rotated` = (q, k) after RoPE at their positions; `question_mask` (c,) marks the question.
    Returns the attention output (c, Hq, e) and the row after these tokens."""
    c, groups = q.shape[1], q.shape[0] // k.shape[0]
    q_rot, k_rot = rotated
    q_far = rotation.far(q)  # (Hq, c, d): the query at position n_local
    if question_mask is not None and row.question is None and bool(question_mask.any()):
        asked = q_far[:, question_mask].float()  # (Hq, n, d)
        row = replace(row, question=asked.mean(1).to(q.dtype), channel_scale=asked.square().mean(1).sqrt())  # (Hq, d)
    chosen = select_blocks(row.representative, q_far.mean(1), row.question, plan.question_weight, plan.topk) if plan.far else []

    keys, rot_keys = torch.cat([row.keys, k], 1), torch.cat([row.rotated, k_rot], 1)  # (H, R + c, d)
    values = torch.cat([row.values, v], 1)  # (H, R + c, e)
    positions = torch.cat([row.positions, torch.arange(row.length, row.length + c, device=k.device)])  # (R + c,)
    query_positions = positions[-c:]
    distance = query_positions[:, None] - positions[None, :]  # (c, R + c)
    local = (distance >= 0) & (distance < plan.n_local)
    expand = lambda t: t.repeat_interleave(groups, 0)  # noqa: E731  (H, ., .) → (Hq, ., .)
    logits = q_rot @ expand(rot_keys).transpose(1, 2)  # (Hq, c, R + c)
    if plan.far:
        beyond = distance >= plan.n_local
        far_logits = logits if plan.original_positions else q_far @ expand(keys).transpose(1, 2)
        logits = torch.where(local, logits, far_logits).masked_fill(~(local | beyond), float("-inf"))
    else:
        logits = logits.masked_fill(~local, float("-inf"))
    block_values = None
    if chosen:
        block_keys = torch.cat([dense_keys(row.block_keys[m], row.block_channels[m], k.shape[-1]) for m in chosen], 1)  # (H, kB, d)
        block_values = torch.cat([row.block_values[m] for m in chosen], 1)  # (H, kB, e)
        if plan.original_positions:
            starts = torch.tensor([row.block_starts[m] for m in chosen], device=k.device)
            block_positions = (starts[:, None] + torch.arange(plan.block_size, device=k.device)).reshape(-1)
            block_logits = q_rot @ expand(rotation.at(block_keys, block_positions)).transpose(1, 2)
        else:
            block_logits = q_far @ expand(block_keys).transpose(1, 2)  # (Hq, c, kB)
        logits = torch.cat([block_logits, logits], 2)
    logits = logits.float() * scaling
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    weights = logits.softmax(-1)  # (Hq, c, kB + R + c)
    seen = values if block_values is None else torch.cat([block_values, values], 1)
    out = weights.to(v.dtype) @ expand(seen)  # (Hq, c, e)
    received = torch.cat([row.received, row.received.new_zeros(row.received.shape[0], c)], 1)
    received = received + (weights[:, :, -positions.shape[0]:] * local).sum(1)  # (Hq, R + c)
    row = replace(row, keys=keys, rotated=rot_keys, values=values, positions=positions, received=received,
                  length=row.length + c)
    scale = row.channel_scale if row.channel_scale is not None else q_far.float().square().mean(1).sqrt()  # (Hq, d)
    return out.transpose(0, 1), store_blocks(row, plan, groups, scale)


def store_blocks(row: Row, plan: LayerPlan, groups: int, scale: torch.Tensor | None = None) -> Row:
    """Move every block whose tokens are all n_local behind the next token out of the kept keys
    (into the block store, or dropped when nothing is ever retrieved); `scale` (Hq, d) is the
    per-channel query size ThinK prunes key channels by."""
    sinks = min(row.length, plan.n_init)
    if row.positions.shape[0] == sinks:
        return row
    first = int(row.positions[sinks])  # the kept tokens after the sinks are contiguous from here to the end
    blocks = max(0, (row.length - plan.n_local - first) // plan.block_size)
    if blocks == 0:
        return row
    cut = sinks + blocks * plan.block_size
    kept = lambda t: torch.cat([t[..., :sinks, :], t[..., cut:, :]], -2)  # noqa: E731
    update = dict(keys=kept(row.keys), rotated=kept(row.rotated), values=kept(row.values),
                  positions=torch.cat([row.positions[:sinks], row.positions[cut:]]),
                  received=torch.cat([row.received[:, :sinks], row.received[:, cut:]], 1))
    if plan.topk > 0:
        span = slice(sinks, cut)
        # copies, so that the stored blocks do not keep this step's larger tensors alive
        keys = row.keys[:, span].clone(memory_format=torch.contiguous_format).unflatten(1, (blocks, plan.block_size))  # (H, n, B, d)
        values = row.values[:, span].clone(memory_format=torch.contiguous_format).unflatten(1, (blocks, plan.block_size))  # (H, n, B, e)
        received = row.received[:, span].unflatten(1, (blocks, plan.block_size))  # (Hq, n, B)
        best = received.topk(plan.representatives, -1).indices  # (Hq, n, r)
        expanded = keys.repeat_interleave(groups, 0)  # (Hq, n, B, d)
        chosen = expanded.gather(2, best[..., None].expand(-1, -1, -1, keys.shape[-1]))  # (Hq, n, r, d)
        representative = chosen.mean(2).transpose(0, 1)  # (n, Hq, d)
        pruned = [prune_channels(block, scale, groups, plan.key_keep) for block in keys.unbind(1)]
        update.update(
            block_keys=row.block_keys + tuple(p[0] for p in pruned), block_channels=row.block_channels + tuple(p[1] for p in pruned),
            block_values=row.block_values + tuple(values.unbind(1)),
            block_starts=row.block_starts + tuple(first + i * plan.block_size for i in range(blocks)),
            representative=torch.cat([row.representative, representative], 0))
    return replace(row, **update)


def prune_channels(keys: torch.Tensor, scale: torch.Tensor | None, groups: int,
                   keep: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """ThinK: the key channels of one block (H, B, d) each KV head keeps, by |q_c|·‖K_c‖ with |q_c|
    summed over the head's query group (`scale` (Hq, d)): (H, B, d') and their indices (H, d');
    all channels (and None) at keep 1."""
    dim = keys.shape[-1]
    kept = max(1, round(keep * dim))
    if kept >= dim or scale is None:
        return keys, None
    query = scale.unflatten(0, (keys.shape[0], groups)).sum(1)  # (H, d)
    importance = query * keys.float().norm(dim=1)  # (H, d)
    channels = importance.topk(kept, -1).indices.sort(-1).values  # (H, d')
    return keys.gather(2, channels[:, None, :].expand(-1, keys.shape[1], -1)).contiguous(), channels


def dense_keys(keys: torch.Tensor, channels: torch.Tensor | None, dim: int) -> torch.Tensor:
    """A stored block's keys (H, B, d') back at full width (H, B, d), zeros in pruned channels."""
    if channels is None:
        return keys
    out = keys.new_zeros(keys.shape[0], keys.shape[1], dim)
    return out.scatter(2, channels[:, None, :].expand(-1, keys.shape[1], -1), keys)
