"""A naive segment loop for Llama-like models (Llama, Mistral, Qwen2 with q/k/v biases, Qwen3 with
q/k norms), in float64, written from DESIGN §2 and the models' equations (RMSNorm, rotate-half RoPE
at absolute positions, grouped-query softmax attention, SwiGLU MLP), independently of
`qfocus.memory`. The memory itself is `reference_memory`'s per-token loops.
"""

from __future__ import annotations

import math

import torch

import reference_memory as ref


def rms_norm(x, weight, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight.double()


def rope(x, positions, inv_freq):
    """x (B, H, T, d): rotate-half RoPE at `positions` (T,)."""
    angles = positions.double()[:, None] * inv_freq.double()[None, :]  # (T, d/2)
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)  # (T, d)
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


def linear(x, module):
    out = x @ module.weight.double().T
    return out if module.bias is None else out + module.bias.double()


def segment_loop_logits(model, ids: torch.Tensor, query_mask: torch.Tensor, segment: int) -> torch.Tensor:
    """Next-token logits (B, vocab) after reading `ids` (B, N) segment by segment, query in segment 1."""
    cfg = model.config
    heads, kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
    d = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    groups, eps = heads // kv_heads, cfg.rms_norm_eps
    inv_freq = model.model.rotary_emb.inv_freq
    layers = model.model.layers
    memory = [None] * len(layers)  # (M, Mq, z) per layer after the first complete segment
    q_bar = [None] * len(layers)
    b, n = ids.shape
    for start in range(0, n, segment):
        end = min(start + segment, n)
        t = end - start
        positions = torch.arange(start, end)
        h = model.model.embed_tokens.weight.double()[ids[:, start:end]]  # (B, T, D)
        written = []
        for index, layer in enumerate(layers):
            attn = layer.self_attn
            x = rms_norm(h, layer.input_layernorm.weight, eps)
            q = linear(x, attn.q_proj).view(b, t, heads, d).transpose(1, 2)  # (B, Hq, T, d)
            k = linear(x, attn.k_proj).view(b, t, kv_heads, d).transpose(1, 2)  # (B, H, T, d)
            v = linear(x, attn.v_proj).view(b, t, kv_heads, d).transpose(1, 2)
            if hasattr(attn, "q_norm"):  # Qwen3: RMSNorm over each head's vector, before RoPE
                q, k = rms_norm(q, attn.q_norm.weight, eps), rms_norm(k, attn.k_norm.weight, eps)
            if start == 0:  # q̄: mean over query tokens, then over the query heads of each kv head
                weights = query_mask[:, None, start:end, None].double()
                mean = (q * weights).sum(2) / weights.sum(2)  # (B, Hq, d)
                q_bar[index] = mean.view(b, kv_heads, groups, d).mean(2)
            q_rot, k_rot = rope(q, positions, inv_freq), rope(k, positions, inv_freq)
            out = torch.zeros(b, heads, t, d, dtype=torch.float64)
            for head in range(heads):
                scores = q_rot[:, head] @ k_rot[:, head // groups].transpose(-1, -2) / math.sqrt(d)  # (B, T, T)
                scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
                out[:, head] = scores.softmax(-1) @ v[:, head // groups]
            if memory[index] is not None:
                a_mem, a_qmem = ref.read(*memory[index], q)
                for head in range(heads):
                    g = 1 / (1 + math.exp(-float(attn.qf_beta[head])))
                    g_m = torch.sigmoid(a_qmem[:, head] @ attn.qf_gate_weight[head].double() + float(attn.qf_gate_bias[head]))
                    g_m = g_m[..., None]  # (B, T, 1)
                    out[:, head] = g * ((1 - g_m) * a_mem[:, head] + g_m * a_qmem[:, head]) + (1 - g) * out[:, head]
            h = h + linear(out.transpose(1, 2).reshape(b, t, heads * d), attn.o_proj)
            y = rms_norm(h, layer.post_attention_layernorm.weight, eps)
            mlp = layer.mlp
            gate = torch.nn.functional.silu(y @ mlp.gate_proj.weight.double().T)
            h = h + (gate * (y @ mlp.up_proj.weight.double().T)) @ mlp.down_proj.weight.double().T
            written.append((k, v))
        if t == segment:  # a complete segment goes to memory
            for index, (k, v) in enumerate(written):
                if memory[index] is None:
                    zeros = torch.zeros(b, kv_heads, d, d, dtype=torch.float64)
                    memory[index] = (zeros, zeros.clone(), torch.zeros(b, kv_heads, d, dtype=torch.float64))
                memory[index] = ref.write(*memory[index], k, v, q_bar[index])
    last = rms_norm(h[:, -1], model.model.norm.weight, eps)
    return last @ model.lm_head.weight.double().T
