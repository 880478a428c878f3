"""FocusLLM's parallel decoding (DESIGN.md §11): chunks of the earlier text, each followed by the
last tokens of the local context ending in a candidate token, are read as batches; the local context
attends to every chunk's candidate key/value, then to itself, and predicts the next token. Each new
token joins every chunk's dynamic prompt: a decode step reads two tokens per chunk (the previous
candidate, now ordinary, and the new candidate) on top of the chunk's cache, then the local context
is read again with the new candidates, as the reference does. Two variants keep only the candidates
(`keep=False`: memory bounded by the micro-batch): re-reading every chunk per new token (exact), or
freezing the prompt's candidates so the local context decodes on an ordinary KV cache
(`candidate_cache`; an approximation: the candidates do not see the answer).

The state is a value: `FocusState` in, `FocusState` out.

Positions, as the reference: a chunk's tokens from 0, its dynamic prompt after them, the candidate
last; the local pass puts the K candidates at 0..K-1 and the local context at K, K+1, ...
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from transformers import DynamicCache

from qfocus.focus.attention import KV, FocusContext, FocusStep
from qfocus.models import anatomy


@dataclass(frozen=True)
class ChunkGroup:
    """Chunks of one length, read together: their caches and the token each will read next as an
    ordinary token (the candidate of the last step)."""

    index: tuple[int, ...]  # the chunks' places in document order
    past: dict[int, KV]  # per layer, (G, H, P, d) post-RoPE keys, (G, H, P, e) values; {} when not kept
    length: int  # P: tokens in each chunk's cache
    pending: int  # the token id read as the candidate last, ordinary next time


@dataclass(frozen=True)
class FocusState:
    """The recurrent value of a FocusLLM read: every chunk's current candidate and, when kept, its cache."""

    groups: tuple[ChunkGroup, ...]
    candidates: dict[int, KV]  # per layer, (1, H, K, d) keys before RoPE, (1, H, K, e) values, document order

    @property
    def chunks(self) -> int:
        return sum(len(g.index) for g in self.groups)

    def stored_bytes(self) -> int:
        tensors = [t for g in self.groups for kv in g.past.values() for t in kv]
        tensors += [t for kv in self.candidates.values() for t in kv]
        return sum(t.numel() * t.element_size() for t in tensors)


def split(ids: list[int], local: int, chunk: int, prompt: int) -> tuple[list[list[int]], list[int], list[int]]:
    """(chunks, dynamic prompt, local context) of a prompt `ids`: the last `local` tokens are the local
    context, the earlier ones chunks of `chunk` tokens from the start (the last may be shorter), and
    every chunk is followed by the last min(prompt, chunk, local) tokens (the last is the candidate)."""
    head, tail = ids[:-local] if len(ids) > local else [], ids[-local:]
    chunks = [head[i:i + chunk] for i in range(0, len(head), chunk)]
    return chunks, tail[-min(prompt, chunk, len(tail)):], tail


def read_chunks(model, context: FocusContext, chunks: list[list[int]], prompt: list[int], batch: int,
                on_chunk=None, keep: bool = True) -> FocusState:
    """Every chunk + `prompt` read in micro-batches of at most `batch` chunks of one length. Without
    `keep`, each micro-batch's cache is dropped once its candidates are taken (no `step_chunks` then)."""
    by_length: dict[int, list[int]] = {}
    for i, chunk in enumerate(chunks):
        by_length.setdefault(len(chunk), []).append(i)
    groups, candidates = [], []
    for members in by_length.values():
        for start in range(0, len(members), batch):
            index = tuple(members[start:start + batch])
            ids = torch.tensor([chunks[i] + prompt for i in index], device=model.device)  # (G, C + m)
            out = _chunk_forward(model, context, ids, {}, 0)  # dropped after this micro-batch (masks, caches)
            groups.append(ChunkGroup(index, out.out_past if keep else {}, ids.shape[1] - 1, prompt[-1]))
            candidates.append(out.out_candidates)
            if on_chunk is not None:
                on_chunk(sum(len(g.index) for g in groups), len(chunks))
    return FocusState(tuple(groups), _in_order(groups, candidates))


def step_chunks(model, context: FocusContext, state: FocusState, token: int) -> FocusState:
    """Every chunk reads its pending token (ordinary) and `token` (the new candidate) on its cache."""
    if any(not group.past for group in state.groups):
        raise ValueError("these chunks were read with keep=False: read them again with the new token instead")
    groups, candidates = [], []
    for group in state.groups:
        ids = torch.tensor([[group.pending, token]] * len(group.index), device=model.device)  # (G, 2)
        out = _chunk_forward(model, context, ids, group.past, group.length)
        groups.append(ChunkGroup(group.index, out.out_past, group.length + 1, token))
        candidates.append(out.out_candidates)
    return FocusState(tuple(groups), _in_order(groups, candidates))


def local_logits(model, context: FocusContext, state: FocusState, ids: list[int], every: bool = False) -> torch.Tensor:
    """The next-token logits (1, V) of the local context `ids` reading every chunk's candidate (with
    `every`: at every position, (1, T, V), for training)."""
    device, count = model.device, state.chunks
    tokens = torch.tensor([ids], device=device)  # (1, T)
    positions = torch.arange(count, count + len(ids), device=device)[None]  # (1, T)
    dtype = model.get_input_embeddings().weight.dtype
    cand_positions = torch.arange(count, device=device)[None]  # (1, K)
    key_positions = torch.cat([cand_positions, positions], 1)
    step = FocusStep("local", *_masks(context, positions, key_positions, dtype), candidates=state.candidates,
                     candidate_positions=cand_positions)
    logits = _forward(model, context, step, tokens, positions, **({} if every else {"logits_to_keep": 1})).logits
    return logits if every else logits[:, -1]


def candidate_cache(model, state: FocusState) -> DynamicCache:
    """The candidates as the model's own KV cache, keys rotated at 0..K-1: the unwrapped model reading
    the local context at positions K, K+1, ... on this cache is `local_logits` (tested), and goes on
    decoding one token per step with the candidates held fixed."""
    cache = DynamicCache(config=model.config)
    positions = torch.arange(state.chunks, device=model.device)[None]  # (1, K)
    for index, holder in anatomy.attention_holders(model):
        if index not in state.candidates:
            continue
        attn = getattr(holder.self_attn, "base_layer", holder.self_attn)
        keys, values = state.candidates[index]  # (1, H, K, d) before RoPE, (1, H, K, e)
        cos, sin = anatomy.rotary_at(model, attn)(positions, keys)
        cache.update(anatomy.rotate(attn)(keys, keys, cos, sin)[1], values, index)
    return cache


def _chunk_forward(model, context: FocusContext, ids: torch.Tensor, past: dict[int, KV], length: int) -> FocusStep:
    group, new = ids.shape
    positions = torch.arange(length, length + new, device=ids.device)[None].expand(group, -1)  # (G, T)
    key_positions = torch.arange(length + new, device=ids.device)[None].expand(group, -1)
    dtype = model.get_input_embeddings().weight.dtype
    step = FocusStep("chunks", *_masks(context, positions, key_positions, dtype), past=past)
    _forward(model, context, step, ids, positions, logits_to_keep=1)
    return step


def _forward(model, context: FocusContext, step: FocusStep, ids: torch.Tensor, positions: torch.Tensor, **kwargs):
    context.step = step
    try:
        return model(input_ids=ids, position_ids=positions, use_cache=False, **kwargs)
    finally:
        context.step = None


def _masks(context: FocusContext, positions: torch.Tensor, key_positions: torch.Tensor, dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Additive masks (B, 1, T, S): key j is visible to query i when it is not later; with the model's
    sliding window W (some layers), also when it is fewer than W positions back."""
    later = key_positions[:, None, :] > positions[:, :, None]  # (B, T, S)
    low = torch.finfo(dtype).min
    full = torch.zeros(later.shape, dtype=dtype, device=positions.device).masked_fill(later, low)[:, None]
    if context.window is None:
        return full, None
    far = (positions[:, :, None] - key_positions[:, None, :]) >= context.window
    return full, full.masked_fill(far[:, None], low)


def _in_order(groups: list[ChunkGroup], candidates: list[dict[int, KV]]) -> dict[int, KV]:
    """Per layer, every chunk's candidate key and value (1, H, K, ·) in document order, from the
    groups' (G, H, 1, ·) candidates."""
    if not groups:
        return {}
    order = torch.tensor([i for g in groups for i in g.index]).argsort()  # document place -> row

    def gather(parts: list[torch.Tensor]) -> torch.Tensor:  # (G, H, 1, ·) each -> (1, H, K, ·)
        return torch.cat(parts, 0)[order.to(parts[0].device)].transpose(0, 2)

    return {layer: (gather([c[layer][0] for c in candidates]), gather([c[layer][1] for c in candidates]))
            for layer in candidates[0]}
