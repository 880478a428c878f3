"""A naive segment loop in float64 for every supported family, written from DESIGN §2 and the models'
equations independently of `qfocus.memory`: RMSNorm, rotate-half RoPE at absolute positions,
grouped-query softmax attention and a gated MLP, with Qwen2's q/k/v biases, Qwen3's q/k norms and
Gemma 3's differences (embeddings scaled by sqrt(hidden), (1 + w) norms around attention and MLP,
q/k norms, query_pre_attn_scalar, sliding-window layers with their own RoPE base, GELU-tanh). The
memory itself is `reference_memory`'s per-token loops.
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
    gemma = cfg.model_type.startswith("gemma3")
    if gemma:
        assert cfg.attn_logit_softcapping is None and cfg.final_logit_softcapping is None
        norm = lambda x, w: rms_norm(x, 1.0 + w.double(), eps)  # noqa: E731  Gemma: x / rms · (1 + w)
        scale, embed_scale = cfg.query_pre_attn_scalar ** -0.5, math.sqrt(cfg.hidden_size)
        act = lambda x: torch.nn.functional.gelu(x, approximate="tanh")  # noqa: E731
    else:
        norm = lambda x, w: rms_norm(x, w, eps)  # noqa: E731
        scale, embed_scale, act = d ** -0.5, 1.0, torch.nn.functional.silu
    layers = model.model.layers
    memory = [None] * len(layers)  # (M, Mq, z) per layer after the first complete segment
    q_bar = [None] * len(layers)
    b, n = ids.shape
    for start in range(0, n, segment):
        end = min(start + segment, n)
        t = end - start
        positions = torch.arange(start, end)
        h = model.model.embed_tokens.weight.double()[ids[:, start:end]] * embed_scale  # (B, T, D)
        written = []
        for index, layer in enumerate(layers):
            attn = layer.self_attn
            kind = cfg.layer_types[index] if gemma else None
            inv_freq = getattr(model.model.rotary_emb, f"{kind}_inv_freq") if gemma else model.model.rotary_emb.inv_freq
            x = norm(h, layer.input_layernorm.weight)
            q = linear(x, attn.q_proj).view(b, t, heads, d).transpose(1, 2)  # (B, Hq, T, d)
            k = linear(x, attn.k_proj).view(b, t, kv_heads, d).transpose(1, 2)  # (B, H, T, d)
            v = linear(x, attn.v_proj).view(b, t, kv_heads, d).transpose(1, 2)
            if hasattr(attn, "q_norm"):  # Qwen3, Gemma 3: norm over each head's vector, before RoPE
                q, k = norm(q, attn.q_norm.weight), norm(k, attn.k_norm.weight)
            if start == 0:  # q̄: mean over query tokens, then over the query heads of each kv head
                weights = query_mask[:, None, start:end, None].double()
                mean = (q * weights).sum(2) / weights.sum(2)  # (B, Hq, d)
                q_bar[index] = mean.view(b, kv_heads, groups, d).mean(2)
            q_rot, k_rot = rope(q, positions, inv_freq), rope(k, positions, inv_freq)
            out = torch.zeros(b, heads, t, d, dtype=torch.float64)
            distance = torch.arange(t)[:, None] - torch.arange(t)[None, :]  # query − key position
            hidden = distance < 0
            if kind == "sliding_attention":
                hidden = hidden | (distance >= cfg.sliding_window)
            for head in range(heads):
                scores = q_rot[:, head] @ k_rot[:, head // groups].transpose(-1, -2) * scale  # (B, T, T)
                scores = scores.masked_fill(hidden, float("-inf"))
                out[:, head] = scores.softmax(-1) @ v[:, head // groups]
            if memory[index] is not None:
                a_mem, a_qmem = ref.read(*memory[index], q)
                for head in range(heads):
                    g = 1 / (1 + math.exp(-float(attn.qf_beta[head])))
                    g_m = torch.sigmoid(a_qmem[:, head] @ attn.qf_gate_weight[head].double() + float(attn.qf_gate_bias[head]))
                    g_m = g_m[..., None]  # (B, T, 1)
                    out[:, head] = g * ((1 - g_m) * a_mem[:, head] + g_m * a_qmem[:, head]) + (1 - g) * out[:, head]
            attended = linear(out.transpose(1, 2).reshape(b, t, heads * d), attn.o_proj)
            if gemma:
                h = h + norm(attended, layer.post_attention_layernorm.weight)
                y = norm(h, layer.pre_feedforward_layernorm.weight)
            else:
                h = h + attended
                y = norm(h, layer.post_attention_layernorm.weight)
            mlp = layer.mlp
            mlp_out = (act(linear(y, mlp.gate_proj)) * linear(y, mlp.up_proj)) @ mlp.down_proj.weight.double().T
            h = h + (norm(mlp_out, layer.post_feedforward_layernorm.weight) if gemma else mlp_out)
            written.append((k, v))
        if t == segment:  # a complete segment goes to memory
            for index, (k, v) in enumerate(written):
                if memory[index] is None:
                    zeros = torch.zeros(b, kv_heads, d, d, dtype=torch.float64)
                    memory[index] = (zeros, zeros.clone(), torch.zeros(b, kv_heads, d, dtype=torch.float64))
                memory[index] = ref.write(*memory[index], k, v, q_bar[index])
    last = norm(h[:, -1], model.model.norm.weight)
    return last @ model.lm_head.weight.double().T
