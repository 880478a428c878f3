"""A KV cache that writes each new token into room reserved ahead, for decoding.

transformers' `DynamicLayer` concatenates every step (`torch.cat([keys, new])`), copying the whole
cache once per new token: at a 2K-token prompt, 94 MB per token for SmolLM2 in float32, a third of
a decoding step on a CPU. `StaticCache` avoids the copy but attends to its whole length under a
mask, so reading a long prompt in chunks costs the full length for every chunk. `ReservedLayer`
keeps the dynamic layer's meaning (its keys are exactly the tokens seen so far, so masks, lengths
and the attention see what `DynamicLayer` gives them) and stores them as a prefix view of buffers
sized once for the prompt and the answer: a step writes one slot. Sliding-window layers (Gemma 3's
local layers) keep transformers' own layer.

On a CPU, SDPA over bf16 keys is slow for one query row (≈8x float32's time per decoding step here,
while reading a prompt it is no faster than float32). So a half-precision model on a CPU keeps its
cache in float32 (`float32_attention`): keys and values are stored in float32, and the registered
attention function (transformers' SDPA, the query cast up and the output cast back) attends in
float32. The model's projections, norms and MLPs stay in their own dtype.

`with_cache(cache)` is how every caller hands a cache to a model's forward or `generate`, under the
argument name the installed transformers takes.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface, AttentionMaskInterface, DynamicCache
from transformers.cache_utils import Cache, DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

from qfocus.models.anatomy import CACHE_ARGUMENT, FLOAT32_CACHE  # FLOAT32_CACHE: the attention registered below


def with_cache(cache: Cache) -> dict[str, Cache]:
    """The keyword argument that hands `cache` to a model's forward or `generate` on this transformers
    (`cache` from 5.24, `past_key_values` before: `anatomy.CACHE_ARGUMENT`)."""
    return {CACHE_ARGUMENT: cache}


class ReservedLayer(DynamicLayer):
    """`DynamicLayer` whose keys and values are the first n slots of buffers of `room` tokens."""

    def __init__(self, room: int, dtype: torch.dtype | None = None):
        super().__init__()
        self.room, self.dtype = room, dtype  # dtype: what the buffers hold (None: the states' own)
        self.buffers: tuple[torch.Tensor, torch.Tensor] | None = None  # (B, H, room, D) keys, values

    def _holds(self, length: int, states: torch.Tensor) -> bool:
        """Whether the buffers fit `states`' rows and heads, have room for `length` tokens, and the
        current keys are their prefix (`crop` keeps them so; `batch_select_indices` and the like
        replace them by copies)."""
        if self.buffers is None or self.buffers[0].shape[-2] < length:
            return False
        if self.buffers[0].shape[:2] != states.shape[:2] or self.buffers[0].device != states.device:
            return False
        if self.keys.numel() == 0:
            return True
        return (self.keys.data_ptr() == self.buffers[0].data_ptr() and self.keys.stride() == self.buffers[0].stride()
                and self.values.data_ptr() == self.buffers[1].data_ptr())

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        seen, new = self.get_seq_length(), key_states.shape[-2]
        if not self._holds(seen + new, key_states):
            self.buffers = tuple(self._allocate(old, states, seen, seen + new)
                                 for old, states in ((self.keys, key_states), (self.values, value_states)))
        keys, values = self.buffers
        keys[:, :, seen:seen + new] = key_states
        values[:, :, seen:seen + new] = value_states
        self.keys, self.values = keys[:, :, :seen + new], values[:, :, :seen + new]  # (B, H, n, D) views
        return self.keys, self.values

    def reset(self) -> None:
        self.buffers = None
        super().reset()

    def _allocate(self, old: torch.Tensor, states: torch.Tensor, seen: int, length: int) -> torch.Tensor:
        room = self.room if length <= self.room else max(length, 2 * seen)  # past the room: grow geometrically
        shape = (*states.shape[:2], room, states.shape[-1])
        buffer = states.new_empty(shape, dtype=self.dtype or states.dtype)  # (B, H, room, D)
        if seen:
            buffer[:, :, :seen] = old
        return buffer


def reserved_cache(model, room: int) -> DynamicCache:
    """A `DynamicCache` for `model` whose full-attention layers reserve `room` tokens (prompt + answer),
    in float32 where `float32_attention` set the model up for it."""
    dtype = torch.float32 if model.config._attn_implementation == FLOAT32_CACHE else None
    cache = DynamicCache(config=model.config)
    cache.layers = [ReservedLayer(room, dtype) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def _sdpa_over_float32_cache(module, query, key, value, attention_mask, **kwargs):
    """transformers' SDPA; where the cache holds float32 keys for a half-precision query, in float32."""
    if key.dtype == query.dtype:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    if attention_mask is not None and attention_mask.is_floating_point():  # an additive mask in the query's dtype
        attention_mask = attention_mask.to(key.dtype)
    out, weights = sdpa_attention_forward(module, query.to(key.dtype), key, value.to(key.dtype), attention_mask,
                                          **kwargs)
    return out.to(query.dtype), weights


def float32_attention(model) -> bool:
    """Set a half-precision SDPA model on a CPU to attend over a float32 cache (see the module
    docstring); whether it did. Other models are left as they are."""
    if (model.device.type != "cpu" or model.dtype == torch.float32
            or model.config._attn_implementation not in ("sdpa", FLOAT32_CACHE)):
        return False
    AttentionInterface.register(FLOAT32_CACHE, _sdpa_over_float32_cache)
    AttentionMaskInterface.register(FLOAT32_CACHE, sdpa_mask)
    model.set_attn_implementation(FLOAT32_CACHE)
    return True
