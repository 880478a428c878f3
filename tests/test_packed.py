"""The fast decoding path: 4-bit packed projections (`models.packed`), the reserved KV cache and the
float32 cache of half-precision models (`models.kv_cache`), and the greedy loop built on them.

Packed weights are checked against a naive dequantised reference and against the Hugging Face
model on every family; the reserved cache equals transformers' `DynamicCache`; batched greedy
answers with packed weights equal one-at-a-time ones."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from transformers import DynamicCache

import qfocus.models
from families import FAMILIES, tiny_model
from qfocus.config import SummarizeConfig
from qfocus.errors import InputError
from qfocus.hyper import HyperConfig, attach
from qfocus.models import load_model
from qfocus.models.kv_cache import FLOAT32_CACHE, ReservedLayer, float32_attention, reserved_cache, with_cache
from qfocus.models.packed import GROUP, Packed4Linear, pack, projections, quantize
from test_hyper import perturb
from test_speed import _examples, _one_at_a_time, _predictions


def _grid_weight(n: int, k: int, seed: int = 0) -> torch.Tensor:
    """A weight stored as GGUF Q4_1 stores it: w = d·q + m per group of 32, q in 0..15, with the
    group's smallest and largest q used (as a min-max quantiser leaves them)."""
    generator = torch.Generator().manual_seed(seed)
    q = torch.randint(0, 16, (n, k // GROUP, GROUP), generator=generator).float()
    q[..., 0], q[..., 1] = 0, 15
    d = torch.rand(n, k // GROUP, 1, generator=generator) * 0.02 + 1e-3
    m = -torch.rand(n, k // GROUP, 1, generator=generator) * 0.1
    return (q * d + m).view(n, k)


def _snap(model: nn.Module) -> nn.Module:
    """Put every projection of `model` on its own 4-bit grid (as the embedded GGUF model is)."""
    with torch.no_grad():
        for parent, name in projections(model):
            linear = getattr(parent, name)
            linear.weight.copy_(quantize(linear.weight).dequantize())
    return model


def _dequantized_reference(packed: Packed4Linear, x: torch.Tensor) -> torch.Tensor:
    """What the kernel computes, naively: bf16 inputs, scales and offsets rounded to bf16 as the kernel
    holds them, w = (q − 8)·d + (min + 8·d), in float64."""
    quantized = quantize(packed.weight)
    scale = quantized.scale.to(torch.bfloat16).double()
    offset = (quantized.low + 8 * quantized.scale).to(torch.bfloat16).double()
    n, k = quantized.q.shape
    w = ((quantized.q.view(n, k // GROUP, GROUP).double() - 8) * scale[..., None] + offset[..., None]).view(n, k)
    y = x.to(torch.bfloat16).double() @ w.T
    return y + packed.bias.double() if packed.bias is not None else y


def test_quantize_recovers_a_4bit_grid_exactly():
    w = _grid_weight(48, 96)
    quantized = quantize(w)
    assert quantized.off_grid < 1e-3
    torch.testing.assert_close(quantized.dequantize(), w, rtol=0, atol=1e-6)
    assert quantize(torch.randn(48, 96)).off_grid > 0.3  # full-precision weights are not on a grid


@pytest.mark.parametrize("bias", [False, True])
def test_packed_linear_equals_the_dequantized_reference(bias):
    linear = nn.Linear(96, 48, bias=bias)
    with torch.no_grad():
        linear.weight.copy_(_grid_weight(48, 96, seed=1))
    packed = Packed4Linear(linear)
    x = torch.randn(6, 1, 96)  # a decoding step of 6 sequences
    with torch.inference_mode():
        y = packed(x)
    assert y.shape == (6, 1, 48) and y.dtype == torch.float32
    reference = _dequantized_reference(packed, x.view(6, 96)).view(6, 1, 48)
    torch.testing.assert_close(y.double(), reference, rtol=1e-2, atol=1e-2 * reference.abs().max().item())
    # and close to the float32 layer itself: the grid is the layer's own weights
    torch.testing.assert_close(y, linear(x).detach(), rtol=2e-2, atol=2e-2 * reference.abs().max().item())


def test_packed_linear_reads_prompts_and_gradients_with_the_dense_layer():
    linear = nn.Linear(64, 32)
    packed = Packed4Linear(linear)
    with torch.inference_mode():
        x = torch.randn(1, 2, 64)  # a prompt's chunk
        assert torch.equal(packed(x), linear(x))  # the dense layer, bit for bit
        step = torch.randn(40, 1, 64)  # a decoding step of 40 sequences: the packed weights, row by row
        assert not torch.equal(packed(step), linear(step))
        assert torch.equal(packed(step)[:3], packed(step[:3]))
        strided = torch.randn(3, 2, 64).to(torch.bfloat16)[:, -1:]  # a non-contiguous bf16 slice (FocusLLM's)
        assert torch.equal(packed(strided), packed(strided.contiguous()))
        with torch.no_grad():
            linear.weight.mul_(2)  # an in-place edit (trained weights loaded into the layer): the pack is stale
        assert torch.equal(packed(step), linear(step))
    copied = copy.deepcopy(packed)  # FocusLLM copies projections to train them: the dense layer alone
    assert type(copied) is nn.Linear and torch.equal(copied.weight, linear.weight)
    x = torch.randn(2, 1, 64, requires_grad=True)  # training (LIFT adapts with gradients): dense
    assert torch.equal(packed(x), linear(x))
    packed(x).sum().backward()
    assert x.grad is not None


@pytest.mark.parametrize("family", FAMILIES)
def test_packed_model_decodes_like_the_hugging_face_model(family):
    """Every family: the packed model's logits, reading a prompt then decoding token by token on a
    cache, stay within bf16 rounding of the unpacked model's."""
    model = _snap(tiny_model(family))
    ids = torch.randint(0, 160, (2, 24), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected = model(input_ids=ids).logits  # (2, 24, V)
    report = pack(model, "int4")
    assert report.packed == 14 and report.skipped == 0 and report.off_grid < 1e-3  # 7 projections x 2 layers
    assert all(isinstance(getattr(parent, name), Packed4Linear) for parent, name in _packed_places(model))
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        steps = [model(input_ids=ids[:, :16], **with_cache(cache)).logits]  # 32 rows: dense
        steps += [model(input_ids=ids[:, t:t + 1], **with_cache(cache)).logits for t in range(16, 24)]  # packed
    got = torch.cat(steps, 1)
    scale = expected.abs().max().item()
    torch.testing.assert_close(got, expected, rtol=0, atol=0.03 * scale)
    assert (got[:, 16:].argmax(-1) == expected[:, 16:].argmax(-1)).float().mean() >= 0.9


def _packed_places(model):
    for layer in qfocus.models.anatomy.decoder_layers(model):
        for parent in layer.modules():
            for name in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
                if name in parent._modules:
                    yield parent, name


def test_auto_packs_only_grid_weights_on_a_bf16_cpu(monkeypatch):
    monkeypatch.setattr(qfocus.models, "native_bf16", lambda: True)
    assert pack(tiny_model("llama"), "auto") is None  # full-precision random weights: left alone
    assert pack(_snap(tiny_model("llama")), "auto").packed == 14
    model = _snap(tiny_model("llama"))
    with torch.no_grad():
        model.model.layers[-1].mlp.down_proj.weight.add_(torch.randn(64, 128) * 1e-3)  # the last one is off its grid
    assert pack(model, "auto") is None
    assert all(type(getattr(parent, name)) is nn.Linear for parent, name in _packed_places(model))  # put back
    monkeypatch.setattr(qfocus.models, "native_bf16", lambda: False)
    assert pack(_snap(tiny_model("llama")), "auto") is None  # the kernel would not pay off
    assert pack(_snap(tiny_model("llama")), "full") is None


def test_load_model_packs_before_the_adapter_wraps(tiny_checkpoint):
    lm = load_model(str(tiny_checkpoint), decode_weights="int4")
    assert lm.packed is not None and lm.packed.packed == 14
    expert = attach(lm.model, HyperConfig(method="ideal-lora"))
    q_proj = qfocus.models.anatomy.decoder_layers(lm.model)[0].self_attn.q_proj
    assert isinstance(q_proj.base_layer, Packed4Linear)  # the LoRA wraps the packed projection
    expert.detach()
    assert isinstance(qfocus.models.anatomy.decoder_layers(lm.model)[0].self_attn.q_proj, Packed4Linear)
    assert load_model(str(tiny_checkpoint)).packed is None  # auto: random weights are not on a grid
    with pytest.raises(InputError, match="decode_weights is 'int8'"):
        SummarizeConfig(decode_weights="int8")


def test_batched_greedy_answers_with_packed_weights_equal_one_at_a_time(tmp_path, tiny_checkpoint, monkeypatch):
    """Batched decoding (`generate_batch`: mapreduce, MuGI, LIFT's QA) on a packed model with a
    HyperExpert: the same answers as one at a time (each decoding row is its own row of the 4-bit
    kernel), and the kernel did the decoding."""
    from qfocus.config import GenerationConfig
    from qfocus.strategies import get_strategy

    kernel, rows = torch.ops.aten._weight_int4pack_mm_for_cpu, []

    def counted(x, *args):
        rows.append(x.shape[0])
        return kernel(x, *args)

    monkeypatch.setattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu", counted)

    lm = load_model(str(tiny_checkpoint), decode_weights="int4")
    lm.expert = attach(lm.model, HyperConfig(method="ideal-lora"))
    perturb(lm.expert, seed=3)
    generation = GenerationConfig(max_new_tokens=10, prefill_chunk=32)
    strategy = get_strategy("truncate", SummarizeConfig(generation=generation))
    plain = _one_at_a_time(lm, strategy, _examples())
    batched = strategy.summarize_batch(lm, [(e.document, e.query) for e in _examples()])  # one generate_batch
    assert [b.summary for b in batched] == [s.summary for s in plain]
    assert sum(bool(s.summary) for s in plain) >= 3  # answers to compare, not empty strings
    assert rows.count(1) > 0 and max(rows) == 5  # one at a time, then a batch of 5, through the packed weights
    # evaluation does not batch a packed model: on real weights a bf16 rounding boundary can still move
    # a near-tie between batch shapes (4 of 16 QMSum answers), and batching was no faster
    metrics, _ = _predictions(lm, strategy, _examples(), tmp_path, 5)
    assert metrics["batch_size"] == 1


@pytest.mark.parametrize("family", FAMILIES)
def test_reserved_cache_equals_the_dynamic_cache(family):
    model = tiny_model(family)
    ids = torch.randint(0, 160, (2, 30), generator=torch.Generator().manual_seed(4))

    def read(cache):
        with torch.inference_mode():
            out = [model(input_ids=ids[:, :9], **with_cache(cache)).logits,
                   model(input_ids=ids[:, 9:20], **with_cache(cache)).logits]
            out += [model(input_ids=ids[:, t:t + 1], **with_cache(cache)).logits for t in range(20, 30)]
        return torch.cat(out, 1)

    cache = reserved_cache(model, 25)  # room for 25: the last 5 tokens make it grow (geometrically: once)
    assert any(isinstance(layer, ReservedLayer) for layer in cache.layers)
    assert torch.equal(read(cache), read(DynamicCache(config=model.config)))
    layer = next(layer for layer in cache.layers if isinstance(layer, ReservedLayer))
    assert layer.keys.shape[-2] == 30 and layer.buffers[0].shape[-2] == 50  # 2 x the 25 it held


def test_reserved_layer_survives_selecting_rows_and_cropping():
    layer = ReservedLayer(room=16)
    k = torch.randn(3, 2, 5, 4)
    layer.update(k, k + 1)
    layer.batch_select_indices(torch.tensor([0, 2]))  # a copy, no longer a view of the buffers
    new = torch.randn(2, 2, 1, 4)
    keys, values = layer.update(new, new + 1)
    assert torch.equal(keys, torch.cat([k[[0, 2]], new], 2)) and torch.equal(values, keys + 1)
    layer.crop(-2)
    keys, _ = layer.update(new, new)
    assert torch.equal(keys, torch.cat([k[[0, 2], :, :4], new], 2))
    layer.reset()  # reused for another batch: no stale buffers
    one = torch.randn(1, 2, 3, 4)
    assert torch.equal(layer.update(one, one)[0], one)


def test_half_precision_model_attends_over_a_float32_cache():
    """A bf16 SDPA model on a CPU keeps its cache in float32 and attends in float32: its logits stay
    within bf16 rounding of the float32 model's, and a bf16 cache (what other paths pass) still goes
    through plain SDPA unchanged."""
    reference = tiny_model("llama")
    reference.config._attn_implementation = "sdpa"
    ids = torch.randint(0, 160, (1, 40), generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        expected = reference(input_ids=ids).logits[:, -8:]

    def last_eight(model, cache):
        with torch.inference_mode():
            model(input_ids=ids[:, :32], **with_cache(cache))
            return torch.cat([model(input_ids=ids[:, t:t + 1], **with_cache(cache)).logits
                              for t in range(32, 40)], 1).float()

    half = tiny_model("llama").to(torch.bfloat16)
    half.config._attn_implementation = "sdpa"
    plain = last_eight(half, DynamicCache(config=half.config))
    assert float32_attention(half) and half.config._attn_implementation == FLOAT32_CACHE
    cache = reserved_cache(half, 40)
    ours = last_eight(half, cache)
    assert next(layer for layer in cache.layers if isinstance(layer, ReservedLayer)).keys.dtype == torch.float32
    assert not torch.equal(ours, plain)  # the attention did run in float32
    torch.testing.assert_close(ours, expected, rtol=0, atol=0.05 * expected.abs().max().item())
    assert torch.equal(last_eight(half, DynamicCache(config=half.config)), plain)  # bf16 keys: plain SDPA
    assert not float32_attention(tiny_model("llama"))  # float32 (and eager) models are left alone


def test_float32_cache_attention_is_sdpa_on_the_upcast_query():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from qfocus.models.kv_cache import _sdpa_over_float32_cache

    module = tiny_model("llama").model.layers[0].self_attn
    generator = torch.Generator().manual_seed(6)
    query = torch.randn(2, 4, 1, 16, generator=generator).to(torch.bfloat16)  # (B, heads, 1, D)
    key, value = torch.randn(2, 2, 2, 9, 16, generator=generator)  # (B, kv heads, T, D) float32
    mask = torch.ones(2, 1, 1, 9, dtype=torch.bool)
    out, _ = _sdpa_over_float32_cache(module, query, key, value, mask, scaling=0.25)
    expected, _ = sdpa_attention_forward(module, query.float(), key, value, mask, scaling=0.25)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, expected.to(torch.bfloat16))
