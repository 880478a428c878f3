"""Reading a batch of sequences through KV-block attention, execution block by execution block.

    handle = attach_blocks(model, BlockConfig())           # wraps every layer's attention
    logits, state = read(model, handle, ids, lengths, query_mask)   # prefill: (B, V) at each last token
    logits, state = read(model, handle, next_ids, None, None, state) # one decode step, (B, 1)
    handle.detach()

Prompts are right-padded; `lengths` says how many tokens of each row are real. The prompt is read
in execution blocks of `exec_block` tokens (the first one long enough to hold the whole question,
which sets each layer's q̄(question)); every block of a row shares one retrieval. Decoding reads
one token per row per step with the same code, so prefill + decode equals reading the whole
sequence with the same execution blocks (tested). Only the attended keys are computed per token,
whatever the document's length; the block store grows by `stored_bytes` per token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from qfocus.blocks.attention import BlockAttention, BlockContext, BlockState
from qfocus.config import BlockConfig
from qfocus.models.anatomy import WrappedAttention, rotary_at, wrap_attention


@dataclass
class BlockHandle(WrappedAttention):
    context: BlockContext = None
    config: BlockConfig = None


def attach_blocks(model: nn.Module, config: BlockConfig) -> BlockHandle:
    """Wrap every decoder layer's attention with `BlockAttention`."""
    context = BlockContext()
    wrapped = wrap_attention(model, lambda index, attn: BlockAttention(attn, index, context, config, rotary_at(model, attn)))
    return BlockHandle(model, wrapped.originals, context, config)


def execution_bounds(length: int, question_end: int, exec_block: int) -> list[int]:
    """Where one sequence's execution blocks start and end: the first holds the whole question."""
    first = max(exec_block, question_end)
    return [0, *range(first, length, exec_block), length]


def question_ends(query_mask: torch.Tensor | None, batch: int) -> list[int]:
    """Per row, the position after its last question token (0 without one)."""
    if query_mask is None:
        return [0] * batch
    return [int(row.nonzero().max()) + 1 if bool(row.any()) else 0 for row in query_mask]


def read(model: nn.Module, handle: BlockHandle, input_ids: torch.Tensor, lengths: list[int] | None,
         query_mask: torch.Tensor | None, state: BlockState | None = None,
         on_block: Callable[[int], None] | None = None) -> tuple[torch.Tensor, BlockState]:
    """Feed `input_ids` (B, T), right-padded to `lengths`, in execution blocks; returns the logits at
    each row's last real token (B, V) and the new state. `query_mask` (B, T) marks the question;
    `on_block(tokens_done)` is called after every forward (progress). Each row is cut into its own
    execution blocks (`execution_bounds`), the i-th of every row read in the i-th forward, so a row's
    answer does not depend on the other rows of the batch."""
    batch, total = input_ids.shape
    lengths = list(lengths) if lengths is not None else [total] * batch
    state = state or BlockState({}, (0,) * batch)
    ctx, device = handle.context, input_ids.device
    bounds = [execution_bounds(n, e, handle.config.exec_block) for n, e in zip(lengths, question_ends(query_mask, batch))]
    last = [None] * batch
    for i in range(max(len(b) for b in bounds) - 1):
        spans = [(b[i], b[i + 1]) if i + 1 < len(b) else (b[-1], b[-1]) for b in bounds]
        active = [b for b, (start, end) in enumerate(spans) if end > start]  # rows done reading sit this one out
        counts = [spans[b][1] - spans[b][0] for b in active]
        width = max(counts)
        chunk = input_ids.new_zeros(len(active), width)  # (A, W) right-padded
        question = None if query_mask is None else query_mask.new_zeros(len(active), width)
        for a, b in enumerate(active):
            start, end = spans[b]
            chunk[a, : end - start] = input_ids[b, start:end]
            if question is not None:
                question[a, : end - start] = query_mask[b, start:end]
        finishing = [a for a, b in enumerate(active) if spans[b][1] == lengths[b]]
        keep = sorted({counts[a] - 1 for a in finishing}) or [width - 1]
        positions = torch.tensor([state.lengths[b] for b in active], device=device)[:, None] + torch.arange(width, device=device)
        ctx.state, ctx.counts, ctx.rows, ctx.question = _rows_of(state, active), counts, {}, question
        try:
            logits = model(input_ids=chunk, position_ids=positions, use_cache=False,
                           logits_to_keep=torch.tensor(keep, device=device)).logits  # (A, len(keep), V)
        finally:
            ctx.state, ctx.question = None, None
        state = _merge(state, active, ctx.rows, counts)
        ctx.rows = {}
        for a in finishing:
            last[active[a]] = logits[a, keep.index(counts[a] - 1)]
        if on_block is not None:
            on_block(max(end for _, end in spans))
    return torch.stack(last), state


def _rows_of(state: BlockState, rows: list[int]) -> BlockState:
    """The state of some rows of the batch only."""
    return BlockState({layer: tuple(r[b] for b in rows) for layer, r in state.layers.items()},
                      tuple(state.lengths[b] for b in rows))


def _merge(state: BlockState, rows: list[int], new: dict, counts: list[int]) -> BlockState:
    """`state` with rows `rows` replaced by the layers' `new` rows, their lengths advanced by `counts`."""
    layers = {}
    for layer, updated in new.items():
        merged = list(state.layers.get(layer, (None,) * len(state.lengths)))
        for a, b in enumerate(rows):
            merged[b] = updated[a]
        layers[layer] = tuple(merged)
    lengths = list(state.lengths)
    for a, b in enumerate(rows):
        lengths[b] += counts[a]
    return BlockState({**state.layers, **layers}, tuple(lengths))
