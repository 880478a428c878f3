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


def read(model: nn.Module, handle: BlockHandle, input_ids: torch.Tensor, lengths: list[int] | None,
         query_mask: torch.Tensor | None, state: BlockState | None = None,
         on_block: Callable[[int], None] | None = None) -> tuple[torch.Tensor, BlockState]:
    """Feed `input_ids` (B, T), right-padded to `lengths`, in execution blocks; returns the logits at
    each row's last real token (B, V) and the new state. `query_mask` (B, T) marks the question;
    `on_block(tokens_done)` is called after every forward (progress)."""
    batch, total = input_ids.shape
    lengths = list(lengths) if lengths is not None else [total] * batch
    state = state or BlockState({}, (0,) * batch)
    ctx, size = handle.context, handle.config.exec_block
    first = size if query_mask is None or not bool(query_mask.any()) else max(size, int(query_mask.nonzero()[:, 1].max()) + 1)
    bounds = [0, *range(first, total, size), total]
    last = [None] * batch
    for start, end in zip(bounds, bounds[1:]):
        counts = [max(0, min(n, end) - start) for n in lengths]
        if not any(counts):
            break
        ends = sorted({n - 1 - start for n, c in zip(lengths, counts) if c and n <= end})  # rows ending here
        positions = torch.tensor(state.lengths, device=input_ids.device)[:, None] + torch.arange(end - start, device=input_ids.device)
        ctx.state, ctx.counts, ctx.rows = state, counts, {}
        ctx.question = query_mask[:, start:end] if query_mask is not None and start == 0 else None
        try:
            logits = model(input_ids=input_ids[:, start:end], position_ids=positions, use_cache=False,
                           logits_to_keep=torch.tensor(ends or [end - start - 1], device=input_ids.device)).logits
        finally:
            ctx.state, ctx.question = None, None
        state = BlockState({**state.layers, **ctx.rows}, tuple(n + c for n, c in zip(state.lengths, counts)))
        ctx.rows = {}
        for b, (n, c) in enumerate(zip(lengths, counts)):
            if c and n <= end:
                last[b] = logits[b, ends.index(n - 1 - start)]
        if on_block is not None:
            on_block(end)
    return torch.stack(last), state
