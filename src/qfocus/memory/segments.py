"""Reading a document segment by segment into compressive memory, and decoding after it.

    handle = attach_memory(model)                       # wraps every layer's attention
    logits, state = read(model, handle, ids, query_mask, segment=1024)   # prefill, constant memory
    logits, state = read(model, handle, next_id, None, segment=1024, state=state)  # one decode step
    handle.detach()

The sequence (prompt, then generated tokens) is cut at multiples of `segment`: a token attends
locally to the earlier tokens of its own segment, and to everything before through the memory.
When a segment is complete its keys and values are written to memory and the window is emptied.
Decoding therefore keeps a window of at most one segment (the tokens of the current one) and
evicts its tokens to memory together when it fills, so the logits after prefill + k decode steps
are exactly those of reading all T + k tokens in segments (tested against a float64 reference).
Only one segment's activations exist at a time, and logits are computed for the last position only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from qfocus.memory.attention import MemoryAttention, MemoryContext, ReadState, collect
from qfocus.memory.compressive import Memory, write
from qfocus.models.anatomy import WrappedAttention, wrap_attention


@dataclass
class MemoryHandle(WrappedAttention):
    context: MemoryContext = None


def attach_memory(model: nn.Module, gate_init: float = 0.0) -> MemoryHandle:
    """Wrap every decoder layer's attention with `MemoryAttention`; the per-head gates start at
    β = `gate_init` (g = sigmoid(β): 0.5 by default)."""
    context = MemoryContext()
    wrapped = wrap_attention(model, lambda index, attn: MemoryAttention(attn, index, context, gate_init).train(model.training))
    return MemoryHandle(model, wrapped.originals, context)


def read(model: nn.Module, handle: MemoryHandle, input_ids: torch.Tensor, query_mask: torch.Tensor | None,
         segment: int, state: ReadState | None = None, attention_mask: torch.Tensor | None = None,
         position: int | None = None, logits_to_keep: int | torch.Tensor = 1,
         on_segment: Callable[[int], None] | None = None) -> tuple[torch.Tensor, ReadState]:
    """Feed `input_ids` (B, T) segment by segment; returns the last forward's logits and the new state.

    `query_mask` (B, T) marks the query tokens (they must lie in the first segment of the sequence);
    `position` is the absolute position of input_ids[:, 0] (default: continue after `state`);
    `logits_to_keep` is passed to every forward (the last n positions, or a 1-D tensor of positions
    within the forward); `on_segment(tokens_done)` is called after every forward (progress).
    """
    state = state or ReadState()
    position = state.tokens + _window_length(state) if position is None else position
    token_mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    start, logits = 0, None
    while start < input_ids.shape[1]:
        room = segment - (position % segment)  # tokens until the current segment is complete
        end = min(start + room, input_ids.shape[1])
        handle.context.state, handle.context.token_mask = state, token_mask[:, start:end]
        handle.context.query_mask = query_mask[:, start:end] if query_mask is not None and start == 0 else None
        handle.context.windows, handle.context.q_bars = {}, {}
        positions = torch.arange(position, position + end - start, device=input_ids.device).expand(input_ids.shape[0], -1)
        try:
            logits = model(input_ids=input_ids[:, start:end], position_ids=positions, use_cache=False,
                           logits_to_keep=logits_to_keep).logits
        finally:
            handle.context.state = None
        state = collect(handle.context, state)
        handle.context.windows, handle.context.q_bars = {}, {}  # the state holds them now
        position += end - start
        if position % segment == 0:
            state = flush(state)
        start = end
        if on_segment is not None:
            on_segment(start)
    return logits, state


def flush(state: ReadState) -> ReadState:
    """Write every layer's completed window into its memory (with the query signal) and empty it."""
    memories = dict(state.memories)
    for layer, window in state.windows.items():
        memory = memories.get(layer)
        if memory is None:
            b, h, _, d = window.keys.shape
            memory = Memory.empty(b, h, d, window.values.shape[-1], window.keys.device)
        memories[layer] = write(memory, window.keys, window.values, state.q_bars.get(layer), window.mask)
    return replace(state, memories=memories, windows={}, tokens=state.tokens + _window_length(state))


def _window_length(state: ReadState) -> int:
    return next(iter(state.windows.values())).length if state.windows else 0
