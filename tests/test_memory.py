"""The compressive memory's math against the naive per-token reference, and its numerical guards."""

from __future__ import annotations

import pytest
import torch

import reference_memory as ref
from qfocus.memory import Memory, mix, query_signal, read, write

B, H, G, D, E = 2, 2, 3, 8, 6  # batch, key/value heads, query heads per kv head, key width, value width


def segment(T: int, seed: int, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(B, H, T, D, generator=g), scale * torch.randn(B, H, T, E, generator=g),
            scale * torch.randn(B, H * G, T, D, generator=g))


def test_segments_written_and_read_equal_the_per_token_reference():
    memory = Memory.empty(B, H, D, E)
    M, Mq, z = memory.M.double(), memory.Mq.double(), memory.z.double()
    mask = torch.ones(B, 5, dtype=torch.bool)
    mask[1, :2] = False  # left padding in the second row
    for index in range(4):
        keys, values, queries = segment(5, index)
        q_bar = query_signal(queries, torch.ones(B, 5, dtype=torch.bool), G)
        memory = write(memory, keys, values, q_bar, mask if index == 0 else None)
        M, Mq, z = ref.write(M, Mq, z, keys, values, q_bar, mask if index == 0 else None)
        torch.testing.assert_close(memory.M.double(), M, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(memory.Mq.double(), Mq, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(memory.z.double(), z, rtol=1e-5, atol=1e-5)
        a_mem, a_qmem = read(memory, queries)
        r_mem, r_qmem = ref.read(M, Mq, z, queries)
        torch.testing.assert_close(a_mem.double(), r_mem, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(a_qmem.double(), r_qmem, rtol=1e-4, atol=1e-4)


def test_first_write_is_plain_outer_product_and_empty_memory_reads_zero():
    keys, values, queries = segment(4, 0)
    empty = Memory.empty(B, H, D, E)
    assert all(t.abs().sum() == 0 for t in read(empty, queries))
    memory = write(empty, keys, values)
    phi = torch.nn.functional.elu(keys) + 1
    torch.testing.assert_close(memory.M, phi.transpose(-1, -2) @ values)
    torch.testing.assert_close(memory.z, phi.sum(2))
    assert memory.Mq.abs().sum() == 0  # no query signal: the query-focused memory is untouched


def test_delta_rule_does_not_rewrite_what_memory_already_returns():
    keys, values, _ = segment(6, 1)
    memory = write(Memory.empty(B, H, D, E), keys, values)
    new_keys = segment(3, 2)[0]
    known, _ = read(memory, new_keys.repeat_interleave(1, dim=1))  # G = 1 view: one query per kv head
    again = write(memory, new_keys, known.view(B, H, 3, E))
    torch.testing.assert_close(again.M, memory.M, rtol=1e-4, atol=1e-4)  # nothing new to store
    assert not torch.equal(again.z, memory.z)


def test_padding_writes_nothing():
    keys, values, _ = segment(5, 3)
    mask = torch.tensor([[True] * 5, [False, False, True, True, True]])
    masked = write(Memory.empty(B, H, D, E), keys, values, mask=mask)
    row = write(Memory.empty(1, H, D, E), keys[1:, :, 2:], values[1:, :, 2:])
    torch.testing.assert_close(masked.M[1:], row.M)
    torch.testing.assert_close(masked.z[1:], row.z)


def test_query_signal_is_mean_over_query_tokens_and_head_group():
    queries = torch.randn(1, H * G, 4, D)
    mask = torch.tensor([[True, True, False, False]])
    expected = queries[:, :, :2].mean(2).view(1, H, G, D).mean(2)
    torch.testing.assert_close(query_signal(queries, mask, G), expected)


def test_mix_follows_the_two_gates():
    _, _, queries = segment(3, 4)
    a_dot, a_mem, a_qmem = (torch.randn(B, H * G, 3, E) for _ in range(3))
    beta, w, b = torch.randn(H * G), torch.randn(H * G, E), torch.randn(H * G)
    out = mix(a_dot, a_mem, a_qmem, beta, w, b)
    g = torch.sigmoid(beta)[None, :, None, None]
    g_m = torch.sigmoid((a_qmem * w[None, :, None, :]).sum(-1, keepdim=True) + b[None, :, None, None])
    torch.testing.assert_close(out, g * ((1 - g_m) * a_mem + g_m * a_qmem) + (1 - g) * a_dot)
    closed = mix(a_dot, a_mem, a_qmem, torch.full((H * G,), -1e4), w, b)
    torch.testing.assert_close(closed, a_dot)  # a shut gate is plain local attention


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_two_hundred_segments_in_half_precision_stay_finite(dtype):
    memory = Memory.empty(B, H, D, E)
    for index in range(200):
        keys, values, queries = (t.to(dtype) for t in segment(16, index, scale=30.0))  # large activations
        q_bar = query_signal(queries, torch.ones(B, 16, dtype=torch.bool), G)
        memory = write(memory, keys, values, q_bar)
        a_mem, a_qmem = read(memory, queries)
        out = mix(torch.randn(B, H * G, 16, E).to(dtype), a_mem, a_qmem, torch.zeros(H * G), torch.zeros(H * G, E),
                  torch.zeros(H * G))
        assert out.dtype == dtype and torch.isfinite(out).all()
    assert memory.M.dtype == torch.float32
    assert all(torch.isfinite(t).all() for t in (memory.M, memory.Mq, memory.z))


def test_gradients_reach_keys_values_and_gates():
    keys, values, queries = (t.requires_grad_() for t in segment(4, 5))
    beta, w, b = torch.zeros(H * G, requires_grad=True), torch.zeros(H * G, E, requires_grad=True), torch.zeros(H * G, requires_grad=True)
    q_bar = query_signal(queries, torch.ones(B, 4, dtype=torch.bool), G)
    memory = write(write(Memory.empty(B, H, D, E), keys, values, q_bar), keys, values, q_bar)
    a_mem, a_qmem = read(memory, queries)
    mix(torch.zeros(B, H * G, 4, E), a_mem, a_qmem, beta, w, b).square().sum().backward()
    for tensor in (keys, values, queries, beta, w, b):
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0
