"""Tiny randomly initialised causal LMs of every supported family (2 layers, hidden 64)."""

from __future__ import annotations

import torch

FAMILIES = ("llama", "qwen2", "qwen3", "mistral", "gemma3")


def tiny_model(family: str, seed: int = 0, vocab: int = 160):
    import transformers as tf

    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    if family == "llama":
        config, cls = tf.LlamaConfig(**common), tf.LlamaForCausalLM
    elif family == "qwen2":  # q/k/v biases
        config, cls = tf.Qwen2Config(**common), tf.Qwen2ForCausalLM
    elif family == "qwen3":  # q/k norms
        config, cls = tf.Qwen3Config(head_dim=16, **common), tf.Qwen3ForCausalLM
    elif family == "mistral":
        config, cls = tf.MistralConfig(sliding_window=None, **common), tf.MistralForCausalLM
    elif family == "gemma3":  # q/k norms, sliding-window and global layers, query_pre_attn_scalar
        config = tf.Gemma3TextConfig(head_dim=16, sliding_window=8, query_pre_attn_scalar=16,
                                     layer_types=["sliding_attention", "full_attention"], **common)
        cls = tf.Gemma3ForCausalLM
    else:
        raise ValueError(family)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = cls(config).eval()
    return model
