"""KV-block attention (qllm, stream) on every supported family: equal to the model's own attention
when everything is local, or when every block is retrieved at its document position; prefill +
decode equal to re-reading; batched equal to one at a time; block selection equal to a naive loop."""

from __future__ import annotations

import pytest
import torch

from families import FAMILIES, tiny_model
from qfocus.blocks import attach_blocks, read
from qfocus.blocks.rows import select_blocks
from qfocus.config import BlockConfig


def ids(batch: int, length: int, seed: int = 0, vocab: int = 160) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


def greedy(model, handle, prompt: torch.Tensor, steps: int, query_mask=None) -> tuple[list[list[int]], list[torch.Tensor]]:
    """Greedy tokens and the logits before each of them, prefill + one token per step."""
    logits, state = read(model, handle, prompt, None, query_mask)
    tokens, seen = [], []
    for _ in range(steps):
        seen.append(logits)
        token = logits.argmax(-1, keepdim=True)  # (B, 1)
        tokens.append(token)
        logits, state = read(model, handle, token, None, None, state)
    return torch.cat(tokens, 1).tolist(), seen


@pytest.mark.parametrize("family", FAMILIES)
def test_everything_local_equals_the_model(family):
    """n_local ≥ the sequence: every key is local, at its true distance: the model's own attention."""
    model = tiny_model(family)
    prompt = ids(1, 21, seed=1)
    with torch.no_grad():
        expected = model.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)
        full = model(input_ids=expected).logits  # (1, 29, V)
        handle = attach_blocks(model, BlockConfig(n_init=2, n_local=64, block_size=4, topk=1, exec_block=5))
        tokens, seen = greedy(model, handle, prompt, 8)
        handle.detach()
    assert tokens[0] == expected[0, 21:].tolist()
    torch.testing.assert_close(torch.cat(seen), full[0, 20:28])


@pytest.mark.parametrize("family", FAMILIES)
def test_every_block_retrieved_at_its_position_equals_full_attention(family):
    model = tiny_model(family)
    prompt = ids(1, 40, seed=2)
    config = BlockConfig(n_init=2, n_local=4, block_size=3, topk=100, representatives=2, exec_block=4,
                         block_positions="original")
    with torch.no_grad():
        expected = model.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0)
        full = model(input_ids=expected).logits
        handle = attach_blocks(model, config)
        tokens, seen = greedy(model, handle, prompt, 8)
        handle.detach()
    assert tokens[0] == expected[0, 40:].tolist()
    torch.testing.assert_close(torch.cat(seen), full[0, 39:47])


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("positions", ["window", "original"])
def test_prefill_then_decode_equals_rereading(family, positions):
    """With every block retrieved the answer cannot depend on how the tokens were grouped into
    execution blocks: prefill + k decode steps = a fresh read of the T + k tokens."""
    model = tiny_model(family)
    config = BlockConfig(n_init=3, n_local=5, block_size=2, topk=100, representatives=1, exec_block=4,
                         block_positions=positions)
    with torch.no_grad():
        handle = attach_blocks(model, config)
        prompt = ids(2, 23, seed=3)
        tokens, seen = greedy(model, handle, prompt, 6)
        for step in range(6):
            sequence = torch.cat([prompt, torch.tensor(tokens)[:, :step]], 1)
            again, _ = read(model, handle, sequence, None, None)
            torch.testing.assert_close(seen[step], again)
        handle.detach()


@pytest.mark.parametrize("family", FAMILIES)
def test_decode_with_top_k_equals_one_token_execution_blocks(family):
    """With few blocks retrieved, decoding (one token per read) equals reading the whole sequence
    in execution blocks of one token: the state carried between reads is the state inside one."""
    model = tiny_model(family)
    config = BlockConfig(n_init=2, n_local=4, block_size=2, topk=2, representatives=1, exec_block=1)
    prompt = ids(1, 30, seed=4)
    query = torch.zeros_like(prompt, dtype=torch.bool)
    query[:, :3] = True
    with torch.no_grad():
        handle = attach_blocks(model, config)
        tokens, seen = greedy(model, handle, prompt, 5, query)
        sequence = torch.cat([prompt, torch.tensor(tokens)[:, :4]], 1)
        again, _ = read(model, handle, sequence, None, torch.cat([query, torch.zeros(1, 4, dtype=torch.bool)], 1))
        handle.detach()
    torch.testing.assert_close(seen[4], again)


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_equals_one_at_a_time(family):
    model = tiny_model(family)
    config = BlockConfig(n_init=2, n_local=4, block_size=3, topk=2, representatives=2, exec_block=5)
    lengths = [31, 18]
    rows = [ids(1, n, seed=10 + i) for i, n in enumerate(lengths)]
    masks = [torch.arange(n)[None] < q for n, q in zip(lengths, (4, 7))]  # questions of 4 and 7 tokens
    with torch.no_grad():
        handle = attach_blocks(model, config)
        alone = [read(model, handle, r, None, m)[0] for r, m in zip(rows, masks)]
        padded = torch.zeros(2, 31, dtype=torch.long)
        mask = torch.zeros(2, 31, dtype=torch.bool)
        for i, (r, m) in enumerate(zip(rows, masks)):
            padded[i, : r.shape[1]], mask[i, : r.shape[1]] = r[0], m[0]
        together, state = read(model, handle, padded, lengths, mask)
        one_alone = read(model, handle, rows[1], None, masks[1])[1]
        handle.detach()
    torch.testing.assert_close(together, torch.cat(alone))
    assert state.lengths == (31, 18)
    torch.testing.assert_close(state.layers[0][1].representative, one_alone.layers[0][0].representative)


def naive_selection(representative, chunk_query, question, weight, topk):
    scores = []
    for m in range(representative.shape[0]):
        score = sum(float(representative[m, h] @ chunk_query[h]) for h in range(chunk_query.shape[0]))
        if question is not None:
            score += weight * sum(float(representative[m, h] @ question[h]) for h in range(question.shape[0]))
        scores.append(score)
    if len(scores) <= topk:
        return list(range(len(scores)))
    return sorted(sorted(range(len(scores)), key=lambda m: -scores[m])[:topk])


@pytest.mark.parametrize("with_question", [False, True])
def test_block_selection_equals_a_naive_loop(with_question):
    generator = torch.Generator().manual_seed(5)
    representative = torch.randn(37, 4, 16, generator=generator)
    chunk_query = torch.randn(4, 16, generator=generator)
    question = torch.randn(4, 16, generator=generator) if with_question else None
    for topk in (0, 1, 5, 37, 50):
        assert select_blocks(representative, chunk_query, question, 4.0, topk) == naive_selection(
            representative, chunk_query, question, 4.0, topk)


def test_question_weight_moves_the_selection_towards_the_question():
    representative = torch.eye(4)[:, None, :].repeat(1, 2, 1)  # block m points along axis m, both heads
    chunk = torch.tensor([[1.0, 0, 0, 0]] * 2)
    question = torch.tensor([[0, 0, 0, 1.0]] * 2)
    assert select_blocks(representative, chunk, question, 0.0, 1) == [0]
    assert select_blocks(representative, chunk, question, 4.0, 1) == [3]


def test_two_hundred_blocks_in_bf16_stay_finite():
    model = tiny_model("llama").to(torch.bfloat16)
    config = BlockConfig(n_init=4, n_local=8, block_size=2, topk=4, representatives=1, exec_block=16)
    with torch.no_grad():
        handle = attach_blocks(model, config)
        logits, state = read(model, handle, ids(1, 420, seed=7), None, None)
        for _ in range(3):
            logits, state = read(model, handle, logits.argmax(-1, keepdim=True), None, None, state)
        handle.detach()
    assert len(state.layers[0][0].block_keys) >= 200
    assert torch.isfinite(logits).all()


def test_stream_keeps_constant_memory():
    """top-k 0 (StreamingLLM): sinks + window, nothing stored, whatever the length."""
    model = tiny_model("qwen2")
    config = BlockConfig(n_init=4, n_local=8, block_size=4, topk=0, exec_block=8)
    sizes = []
    with torch.no_grad():
        handle = attach_blocks(model, config)
        for length in (64, 256):
            sizes.append(read(model, handle, ids(1, length, seed=8), None, None)[1].stored_bytes())
        handle.detach()
    assert sizes[0] == sizes[1]


@pytest.mark.parametrize("exec_block", [1, 4, 7])
def test_window_positions_and_representatives_equal_a_naive_reference(exec_block):
    """InfLLM's positions (far keys at distance n_local) and the representative keys, against a
    per-query loop in tests/reference_blocks.py."""
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    from qfocus.blocks.rows import LayerPlan, Rotation, Row, attend
    from reference_blocks import naive_block_attention, naive_representatives

    embedding = LlamaRotaryEmbedding(LlamaConfig(hidden_size=64, num_attention_heads=4, max_position_embeddings=64))
    config = BlockConfig(n_init=3, n_local=5, block_size=4, topk=100, representatives=2, exec_block=exec_block)
    plan, rotation = LayerPlan.of(config, None), Rotation(apply_rotary_pos_emb, lambda p, x: embedding(x, p), 5)
    generator = torch.Generator().manual_seed(9)
    q, k, v = (torch.randn(h, 30, 16, generator=generator) for h in (4, 2, 2))
    expected, received = naive_block_attention(q, k, v, rotation, 0.25, 5)
    row, outs = Row.empty(2, 4, 16, 16, k), []
    for start in range(0, 30, exec_block):
        span = torch.arange(start, min(start + exec_block, 30))
        rotated = (rotation.at(q[:, span], span), rotation.at(k[:, span], span))
        out, row = attend(row, plan, q[:, span], k[:, span], v[:, span], rotated, rotation, 0.25)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs), expected)
    blocks = len(row.block_keys)
    assert blocks == (30 - 5 - 3) // 4 and row.block_starts == tuple(3 + 4 * m for m in range(blocks))
    torch.testing.assert_close(row.representative, naive_representatives(k, received, 3, 4, 2, blocks))


def test_qllm_and_stream_answer_about_documents_longer_than_the_window(tiny_lm):
    """The whole document is read (nothing truncated) by a model with a 256-token window, and a batch
    of queries gets the answers it gets one query at a time."""
    from conftest import long_text
    from qfocus.config import GenerationConfig, SummarizeConfig
    from qfocus.strategies import get_strategy

    document = long_text(900)
    items = [(document, "What was decided about the budget?"), (document[:2000], "Who presented the survey?")]
    for name in ("qllm", "stream"):
        config = SummarizeConfig(strategy=name, generation=GenerationConfig(max_new_tokens=6),
                                 blocks=BlockConfig(n_init=8, n_local=32, block_size=8, topk=2, exec_block=32))
        strategy = get_strategy(name, config)
        alone = [strategy.summarize(tiny_lm, d, q) for d, q in items]
        together = strategy.summarize_batch(tiny_lm, items)
        assert [s.summary for s in together] == [s.summary for s in alone]
        assert alone[0].truncated_tokens == 0 and alone[0].prompt_tokens > 4 * tiny_lm.context_window
        assert alone[0].strategy == name and alone[0].answer_tokens >= 1


def test_block_flags_are_one_line_errors():
    from qfocus.errors import InputError

    for bad in (dict(n_local=0), dict(topk=-1), dict(representatives=9, block_size=8), dict(block_positions="x")):
        with pytest.raises(InputError):
            BlockConfig(**bad)


def test_bench_long_context_measures_qllm_and_stream(capsys, tmp_path, tiny_checkpoint):
    import json

    from qfocus.cli import main

    out = tmp_path / "lc.json"
    code = main(["bench", "long-context", "--model", str(tiny_checkpoint), "--lengths", "600", "1240",
                 "--ways", "qllm", "stream", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    rows = {(r["way"], r["length"]): r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {("qllm", 600), ("qllm", 1240), ("stream", 600), ("stream", 1240)}
    # 640 tokens apart = 10 blocks of 64: stream keeps the same sinks + window + waiting tokens
    stream_total = [rows[("stream", n)]["stored_bytes_per_token"] * n for n in (600, 1240)]
    assert stream_total[0] == pytest.approx(stream_total[1], rel=0.01)
    qllm_total = [rows[("qllm", n)]["stored_bytes_per_token"] * n for n in (600, 1240)]
    assert qllm_total[1] > 1.5 * qllm_total[0]  # qllm keeps every block


def test_think_keep_one_is_the_identity_and_pruning_picks_the_naive_channels():
    from qfocus.blocks.rows import dense_keys, prune_channels

    generator = torch.Generator().manual_seed(11)
    keys, scale = torch.randn(2, 6, 8, generator=generator), torch.rand(4, 8, generator=generator)
    same, channels = prune_channels(keys, scale, groups=2, keep=1.0)
    assert same is keys and channels is None and dense_keys(same, channels, 8) is keys
    pruned, channels = prune_channels(keys, scale, groups=2, keep=0.5)
    for h in range(2):
        importance = [float(scale[2 * h, c] + scale[2 * h + 1, c]) * float(keys[h, :, c].norm()) for c in range(8)]
        assert channels[h].tolist() == sorted(sorted(range(8), key=lambda c: -importance[c])[:4])
        torch.testing.assert_close(pruned[h], keys[h][:, channels[h]])
    dense = dense_keys(pruned, channels, 8)
    for h in range(2):
        dropped = [c for c in range(8) if c not in channels[h].tolist()]
        assert dense[h][:, dropped].abs().sum() == 0
        torch.testing.assert_close(dense[h][:, channels[h]], keys[h][:, channels[h]])


def test_think_attends_to_pruned_keys_as_zeros_and_stores_less():
    """After a read with kv_key_keep 0.5, the next execution block attends exactly as it would to
    full-width blocks whose pruned channels are zero; the block store is smaller."""
    from dataclasses import replace

    from qfocus.blocks.rows import LayerPlan, Rotation, Row, attend, dense_keys
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    embedding = LlamaRotaryEmbedding(LlamaConfig(hidden_size=64, num_attention_heads=4, max_position_embeddings=64))
    rotation = Rotation(apply_rotary_pos_emb, lambda p, x: embedding(x, p), 5)
    full = LayerPlan.of(BlockConfig(n_init=2, n_local=5, block_size=4, topk=3, representatives=2, exec_block=4), None)
    pruned_plan = replace(full, key_keep=0.5)
    generator = torch.Generator().manual_seed(12)
    q, k, v = (torch.randn(h, 40, 16, generator=generator) for h in (4, 2, 2))
    question = torch.zeros(40, dtype=torch.bool)
    question[:3] = True

    def run(plan, row, span):
        rotated = (rotation.at(q[:, span], span), rotation.at(k[:, span], span))
        return attend(row, plan, q[:, span], k[:, span], v[:, span], rotated, rotation, 0.25, question[span])

    row = Row.empty(2, 4, 16, 16, k)
    for start in range(0, 36, 4):
        _, row = run(pruned_plan, row, torch.arange(start, start + 4))
    assert all(c is not None and c.shape == (2, 8) for c in row.block_channels)
    as_zeros = replace(row, block_keys=tuple(dense_keys(b, c, 16) for b, c in zip(row.block_keys, row.block_channels)),
                       block_channels=(None,) * len(row.block_keys))
    out, _ = run(pruned_plan, row, torch.arange(36, 40))
    expected, _ = run(full, as_zeros, torch.arange(36, 40))
    torch.testing.assert_close(out, expected)
    assert row.stored_bytes() < as_zeros.stored_bytes()


def test_qllm_with_a_hyperexpert_equals_the_naive_loop_when_everything_is_local(tiny_lm):
    """The HyperExpert's query context reaches the block read: with every token local, qllm decoding
    (adapter + answer-only repetition penalty) = a full forward at every step."""
    from qfocus.config import GenerationConfig, SummarizeConfig
    from qfocus.hyper import HyperConfig, attach
    from qfocus.strategies import get_strategy
    from test_memory_strategies import prompt_of, shake
    from test_strategies import QUERY, naive_greedy, stop_ids

    expert = attach(tiny_lm.model, HyperConfig(method="ideal-lora", dropout=0.0))
    shake(expert)
    prompt = prompt_of(tiny_lm, 40)
    expected = naive_greedy(tiny_lm.model, prompt.input_ids, 12, 1.3, stop_ids(tiny_lm), expert,
                            prompt.query_mask)
    tiny_lm.expert = expert
    try:
        config = SummarizeConfig(strategy="qllm", generation=GenerationConfig(max_new_tokens=12, repetition_penalty=1.3),
                                 blocks=BlockConfig(n_init=4, n_local=256, block_size=8, exec_block=16))
        from conftest import long_text

        ours = get_strategy("qllm", config).summarize(tiny_lm, long_text(40), QUERY)
    finally:
        tiny_lm.expert = None
        expert.detach()
    assert ours.summary == tiny_lm.tokenizer.decode(expected, skip_special_tokens=True).strip()


def test_block_strategies_refuse_memory_and_prompt_adapters(tiny_lm):
    from conftest import long_text
    from qfocus.errors import InputError
    from qfocus.hyper import HyperConfig, attach
    from qfocus.strategies import get_strategy

    for method, memory, message in (("none", True, "trained with --memory"), ("prompt", False, "adaption-prompt")):
        expert = attach(tiny_lm.model, HyperConfig(method=method, memory=memory))
        tiny_lm.expert = expert
        try:
            with pytest.raises(InputError, match=message):
                get_strategy("qllm").summarize(tiny_lm, long_text(50), "What?")
        finally:
            tiny_lm.expert = None
            expert.detach()
