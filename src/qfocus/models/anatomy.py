"""The one place that knows a model family's attention anatomy (Llama, Qwen2/3, Mistral, Gemma 3).

Every attention wrapper in qfocus (the IDEAL memory, the Q-LLM/StreamingLLM KV blocks, the
HyperExpert's adaption prompts) asks this module for:

- the decoder layers, and each layer's attention module (under any wrapper around the layer);
- the projections before RoPE, with the q/k norms of Qwen3 and Gemma 3 (`project`);
- the family's own rotary function and rotary embedding at any position (`rotate`, `rotary_at`);
- the attention function registered for the model (`attention_function`: eager, SDPA, flash);
- the layer's sliding window, if it has one (`sliding_window`);
- the attention forward up to the output projection (`attention_heads`).

transformers' attention forwards take hidden states and return `(o_proj(out), weights)`; their
pluggable attention functions receive queries and keys after RoPE. A wrapper that needs keys
before RoPE (memory writes them, KV blocks re-rotate them) recomputes the projections here, in the
same order of operations as the family's forward; its equality with the unwrapped module is tested
for every family, so a transformers upgrade that changes an attention forward is caught and fixed
once, here.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from transformers.generation.utils import GenerationMixin

from qfocus.errors import InputError


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's decoder layers (a `ModuleList`), or an error naming the families qfocus adapts."""
    layers = getattr(model.get_decoder(), "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise InputError(f"{type(model).__name__} has no decoder layers qfocus can adapt: use a Llama, Qwen, "
                         "Mistral or Gemma 3 model")
    return layers


def attention_holders(model: nn.Module) -> Iterator[tuple[int, nn.Module]]:
    """(layer index, the module whose `self_attn` is that layer's attention), looking through any
    wrapper around the whole layer (the HyperExpert's QueryReader keeps the layer as `base_layer`)."""
    for index, layer in enumerate(decoder_layers(model)):
        while "self_attn" not in layer._modules:
            layer = layer.base_layer
        yield index, layer


class AttentionWrapper(nn.Module):
    """Base of the modules that wrap a layer's attention (kept as `base_layer`): attributes the
    wrapper does not have (`head_dim`, `layer_idx`, `is_sliding`, ...) are the wrapped module's."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.base_layer, name)


@dataclass
class WrappedAttention:
    """What `wrap_attention` replaced, so that `detach` puts the very same modules back."""

    model: nn.Module
    originals: list[tuple[nn.Module, nn.Module]]  # (module holding `self_attn`, the original attention)

    def detach(self) -> nn.Module:
        for holder, original in reversed(self.originals):
            holder.self_attn = original
        self.originals.clear()
        return self.model


def wrap_attention(model: nn.Module, make: Callable[[int, nn.Module], nn.Module]) -> WrappedAttention:
    """Replace every layer's attention module `attn` by `make(layer index, attn)`."""
    originals = []
    for index, holder in attention_holders(model):
        originals.append((holder, holder.self_attn))
        holder.self_attn = make(index, holder.self_attn)
    return WrappedAttention(model, originals)


# transformers 5.24 renamed the KV cache argument of models, their attention modules and `generate` from
# `past_key_values` to `cache` (the old name warns; it goes in 5.40, for `generate` in 6.0). The GPU
# machines run 5.17, which knows only the old name. Asked of the code, not of the version string.
CACHE_ARGUMENT = ("cache" if "cache" in inspect.signature(GenerationMixin.prepare_inputs_for_generation).parameters
                  else "past_key_values")


def project(attn: nn.Module, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Queries, keys and values of `hidden` (B, T, D) before RoPE, after the q/k norms where the
    family has them: (B, Hq, T, d), (B, H, T, d), (B, H, T, e)."""
    batch, length, _ = hidden.shape
    shape = (batch, length, -1, attn.head_dim)
    q = attn.q_proj(hidden).view(shape).transpose(1, 2)  # (B, Hq, T, d)
    k = attn.k_proj(hidden).view(shape).transpose(1, 2)  # (B, H, T, d)
    v = attn.v_proj(hidden).view(shape).transpose(1, 2)  # (B, H, T, e)
    if hasattr(attn, "q_norm"):  # Qwen3, Gemma 3
        q, k = attn.q_norm(q), attn.k_norm(k)
    return q, k, v


def attention_heads(attn: nn.Module, hidden: torch.Tensor, position_embeddings, attention_mask=None,
                    cache=None, **kwargs) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The family's attention forward up to, not including, `o_proj`: the per-head outputs
    (B, T, Hq, e), the attention weights the function returned (or None), and the queries before
    RoPE (B, Hq, T, d) for wrappers that mix something into the heads (LIFT's Gated Memory).
    `o_proj(heads.reshape(B, T, -1))` equals the unwrapped module's output."""
    q, k, v = project(attn, hidden)  # (B, Hq, T, d), (B, H, T, d), (B, H, T, e) before RoPE
    cos, sin = position_embeddings
    q_rot, k_rot = rotate(attn)(q, k, cos, sin)
    cache = cache if cache is not None else kwargs.pop(CACHE_ARGUMENT, None)  # `past_key_values` before transformers 5.24
    if cache is not None:
        k_rot, v = cache.update(k_rot, v, attn.layer_idx)
    heads, weights = attention_function(attn)(
        attn, q_rot, k_rot, v, attention_mask,
        dropout=attn.attention_dropout if attn.training else 0.0, scaling=attn.scaling,
        sliding_window=sliding_window(attn), **kwargs,
    )  # (B, T, Hq, e)
    return heads, weights, q


def rotate(attn: nn.Module) -> Callable:
    """The family's own `apply_rotary_pos_emb(q, k, cos, sin) -> (q, k)`."""
    return _family(attn).apply_rotary_pos_emb


def eager_attention(attn: nn.Module) -> Callable:
    return _family(attn).eager_attention_forward


FLOAT32_CACHE = "qfocus_sdpa_float32_cache"  # SDPA over a float32 KV cache (registered by `models.kv_cache`)


def uses_sdpa(attn: nn.Module) -> bool:
    """Whether the model attends with SDPA (transformers' own, or over a float32 cache), which reads a
    mask of None as causal."""
    return attn.config._attn_implementation in ("sdpa", FLOAT32_CACHE)


def attention_function(attn: nn.Module) -> Callable:
    """The attention function the model is configured with (`config._attn_implementation`)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    return ALL_ATTENTION_FUNCTIONS.get_interface(attn.config._attn_implementation, eager_attention(attn))


def sliding_window(attn: nn.Module) -> int | None:
    """The layer's sliding window (Gemma 3's local layers, Mistral's when configured), else None."""
    window = getattr(attn, "sliding_window", None)
    if window is None and attn.config.model_type == "mistral":
        window = getattr(attn.config, "sliding_window", None)
    return window


def rotary_at(model: nn.Module, attn: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """`at(positions, like)`: this layer's RoPE (cos, sin) at `positions` (B, T), in `like`'s dtype,
    from the decoder's own rotary embedding (Gemma 3 keeps one per layer type)."""
    embedding = model.get_decoder().rotary_emb
    layer_type = getattr(attn, "layer_type", None)
    if layer_type is not None and hasattr(embedding, "layer_types"):  # one rotary per layer type
        return lambda positions, like: embedding(like, positions, layer_type)
    return lambda positions, like: embedding(like, positions)


def _family(attn: nn.Module):
    return sys.modules[type(attn).__module__]
