"""Segment-recurrent attention on every supported family: equal to the model's own attention while
the memory is empty, and prefill + decoding equal to reading the whole sequence in segments."""

from __future__ import annotations

import pytest
import torch

from families import FAMILIES, tiny_model
from qfocus.memory.segments import attach_memory, read


def ids(batch: int, length: int, seed: int = 0, vocab: int = 160) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", FAMILIES)
def test_one_segment_with_empty_memory_equals_the_model(family):
    model = tiny_model(family)
    tokens = ids(2, 24)
    with torch.no_grad():
        expected = model(input_ids=tokens).logits
        handle = attach_memory(model)
        logits, state = read(model, handle, tokens, None, segment=32, logits_to_keep=0)
        handle.detach()
    torch.testing.assert_close(logits, expected)
    assert not state.memories and state.windows[0].length == 24  # nothing written yet


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_decoding_inside_one_segment_equals_generate(family):
    model = tiny_model(family)
    prompt = ids(1, 10, seed=1)
    with torch.no_grad():
        expected = model.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)[0, 10:].tolist()
        handle = attach_memory(model)
        logits, state = read(model, handle, prompt, None, segment=64)
        produced = []
        for _ in range(8):
            token = logits[:, -1].argmax(-1, keepdim=True)
            produced.append(int(token))
            logits, state = read(model, handle, token, None, segment=64, state=state)
        handle.detach()
    assert produced == expected


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("segment", [4, 5, 8])
def test_prefill_then_decode_equals_reading_the_whole_sequence(family, segment):
    """Next-token logits after prefill + k decode steps = a fresh segment read of the same k+T tokens."""
    model = tiny_model(family)
    with torch.no_grad():
        handle = attach_memory(model)
        for module in model.modules():  # gates away from their start, so the memory path is exercised
            if hasattr(module, "qf_beta"):
                module.qf_beta.fill_(0.5)
                module.qf_gate_weight.normal_(0, 0.3)
        sequence = ids(2, 19, seed=2)
        query_mask = torch.zeros_like(sequence, dtype=torch.bool)
        query_mask[:, :3] = True
        logits, state = read(model, handle, sequence[:, :11], query_mask[:, :11], segment=segment)
        for t in range(11, 19):
            fresh, _ = read(model, handle, sequence[:, :t], query_mask[:, :t], segment=segment)
            torch.testing.assert_close(logits, fresh, rtol=1e-4, atol=1e-4)
            logits, state = read(model, handle, sequence[:, t:t + 1], None, segment=segment, state=state)
        assert state.tokens == (19 // segment) * segment and state.memories
        handle.detach()


def test_memory_changes_the_output_once_a_segment_is_written():
    model = tiny_model("llama")
    tokens = ids(1, 16, seed=3)
    with torch.no_grad():
        handle = attach_memory(model)
        one, _ = read(model, handle, tokens, None, segment=16)
        two, _ = read(model, handle, tokens, None, segment=8)
        handle.detach()
        base = model(input_ids=tokens).logits[:, -1:]
    torch.testing.assert_close(one, base)  # a single segment is the model itself
    assert not torch.allclose(two, base, atol=1e-4)  # the second segment reads the first from memory


def test_bench_long_context_writes_rows_and_plot(capsys, tmp_path, tiny_checkpoint):
    import json

    from qfocus.cli import main

    out = tmp_path / "lc.json"
    code = main(["bench", "long-context", "--model", str(tiny_checkpoint), "--lengths", "64", "128", "--segment", "32",
                 "--window", "64", "--full-max", "64", "--ways", "ideal", "full", "truncate", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out.read_text())["rows"]
    assert [(r["way"], r["length"]) for r in rows] == [("ideal", 64), ("ideal", 128), ("full", 64),
                                                       ("truncate", 64), ("truncate", 128)]
    assert rows[-1]["tokens_read"] == 64 and all(r["peak_rss_mb"] > 0 and r["prefill_s"] > 0 for r in rows)
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_sdpa_segments_equal_eager_segments(family):
    """The SDPA fast path (no mask for a plain causal segment) gives what the explicit mask gives."""
    tokens = ids(2, 20, seed=4)
    outputs = []
    for implementation in ("eager", "sdpa"):
        model = tiny_model(family)
        model.config._attn_implementation = implementation
        with torch.no_grad():
            handle = attach_memory(model)
            for module in model.modules():
                if hasattr(module, "qf_beta"):
                    module.qf_gate_weight.normal_(0, 0.3, generator=torch.Generator().manual_seed(0))
            outputs.append(read(model, handle, tokens, None, segment=6, logits_to_keep=0)[0])
            handle.detach()
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family, segment", [("llama", 4), ("llama", 7), ("mistral", 5), ("qwen2", 5), ("qwen3", 6),
                                             ("gemma3", 6), ("gemma3", 11)])
def test_prefill_then_decode_equals_the_naive_segment_loop(family, segment):
    """Against `reference_segments` (float64, written from the equations): prefill of 9 tokens, then
    decoding one token at a time, gives the reference's next-token logits at every length 9..20.
    Gemma 3 with S = 11 exceeds its sliding window of 8 inside a segment."""
    from reference_segments import segment_loop_logits

    model = tiny_model(family)
    sequence = ids(2, 20, seed=4)
    query_mask = torch.zeros_like(sequence, dtype=torch.bool)
    query_mask[:, 1:4] = True
    with torch.no_grad():
        handle = attach_memory(model)
        for module in model.modules():  # gates, biases, norms away from their start: every term counts
            if hasattr(module, "qf_beta"):
                module.qf_beta.normal_(0, 1.0)
                module.qf_gate_weight.normal_(0, 0.3)
                module.qf_gate_bias.normal_(0, 0.5)
            if isinstance(module, torch.nn.Linear) and module.bias is not None:
                module.bias.normal_(0, 0.1)
            if type(module).__name__.endswith("RMSNorm"):  # Gemma's start at 0 (a scale of 1 + 0)
                module.weight.add_(torch.randn_like(module.weight) * 0.1)
        logits, state = read(model, handle, sequence[:, :9], query_mask[:, :9], segment=segment)
        for t in range(9, 21):
            expected = segment_loop_logits(model, sequence[:, :t], query_mask[:, :t], segment)
            torch.testing.assert_close(logits[:, -1].double(), expected, rtol=1e-4, atol=1e-4)
            if t < 20:
                logits, state = read(model, handle, sequence[:, t:t + 1], None, segment=segment, state=state)
        handle.detach()
