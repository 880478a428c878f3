"""A naive per-query reference for KV-block attention with every block retrieved: each key is
attended at its true distance when it is local, else with the query at position n_local and the
key at position 0 (InfLLM's scheme); local attention received is summed key by key."""

from __future__ import annotations

import torch


def naive_block_attention(q, k, v, rotation, scaling: float, n_local: int):
    """q (Hq, T, d), k (H, T, d), v (H, T, e) before RoPE → output (T, Hq, e), received (Hq, T)."""
    heads, length = q.shape[0], q.shape[1]
    groups = heads // k.shape[0]
    positions = torch.arange(length)
    q_rot, k_rot, q_far = rotation.at(q, positions), rotation.at(k, positions), rotation.far(q)
    out = torch.zeros(length, heads, v.shape[-1])
    received = torch.zeros(heads, length)
    for h in range(heads):
        kv = h // groups
        for i in range(length):
            logits = torch.stack([q_rot[h, i] @ k_rot[kv, j] if i - j < n_local else q_far[h, i] @ k[kv, j]
                                  for j in range(i + 1)])
            p = (logits * scaling).softmax(0)
            out[i, h] = p @ v[kv, : i + 1]
            for j in range(i + 1):
                if i - j < n_local:
                    received[h, j] += p[j]
    return out, received


def naive_representatives(k, received, start: int, block_size: int, r: int, blocks: int):
    """(blocks, Hq, d): per block and query head, the mean of the r keys that received most."""
    heads = received.shape[0]
    groups = heads // k.shape[0]
    out = torch.zeros(blocks, heads, k.shape[-1])
    for m in range(blocks):
        first = start + m * block_size
        for h in range(heads):
            scores = received[h, first : first + block_size]
            best = sorted(range(block_size), key=lambda t: -float(scores[t]))[:r]
            out[m, h] = torch.stack([k[h // groups, first + t] for t in best]).mean(0)
    return out
