"""LIFT: segments, Gated Memory on every family (= the base model at init, = a naive per-head
reference once trained), adaptation lowers the document's loss, the per-document cache, and errors."""

from __future__ import annotations

import json
import random

import pytest
import torch

from families import FAMILIES, tiny_model
from qfocus.config import GenerationConfig, LiftConfig, SummarizeConfig
from qfocus.errors import InputError
from qfocus.lift import cache
from qfocus.lift.adapt import adapt, sample_loss
from qfocus.lift.adapters import attach_lift
from qfocus.lift.gated import GatedMemoryAttention, attach_gated_memory
from qfocus.lift.segments import IGNORE, segment_spans, training_samples
from qfocus.models import anatomy
from qfocus.prompts import PromptBuilder


def ids(batch: int, length: int, seed: int = 0, vocab: int = 160) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


# -- segments ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("tokens,length,stride", [(100, 16, 6), (97, 32, 12), (16, 16, 6), (10, 16, 6), (1000, 512, 192)])
def test_segments_cover_the_document_with_the_stated_overlap(tokens, length, stride):
    spans = segment_spans(tokens, length, stride)
    covered = torch.zeros(tokens, dtype=torch.bool)
    for start, end in spans:
        assert end - start == min(length, tokens) and 0 <= start < end <= tokens
        covered[start:end] = True
    assert bool(covered.all()) and spans[0][0] == 0 and spans[-1][1] == tokens
    starts = [start for start, _ in spans]
    assert all(b - a == stride for a, b in zip(starts[:-2], starts[1:-1]))  # every stride; the last one ends the text
    assert 0 < starts[-1] - starts[-2] <= stride if len(spans) > 1 else True


def test_contextualised_samples_put_head_and_tail_context_and_the_instruction_before_the_segment():
    document = list(range(1000, 1400))
    elision, instruction = [7, 7], [8, 9]
    samples = training_samples(document, 64, 24, context=100, elision=elision, instruction=instruction, rng=random.Random(3))
    spans = segment_spans(len(document), 64, 24)
    assert len(samples) == len(spans)
    for sample, (start, end) in zip(samples, spans):
        prefix = sample.input_ids[: sample.prefix]
        assert sample.input_ids[sample.prefix:] == document[start:end]
        assert prefix[-2:] == instruction and len(prefix) == 100 + len(elision) + len(instruction)
        cut = prefix.index(7)
        head, tail = prefix[:cut], prefix[cut + 2:-2]
        assert all(1000 <= t < 1100 for t in head) and all(1300 <= t < 1400 for t in tail)  # from the first / last 100
        assert sample.labels == [IGNORE] * sample.prefix + document[start:end]
    plain = training_samples(document, 64, 24)
    assert plain[0].prefix == 0 and plain[0].labels == document[:64]


# -- Gated Memory -------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_attention_heads_then_o_proj_equals_the_attention_module(family):
    model = tiny_model(family)
    captured = {}

    def keep(module, args, kwargs, output):
        captured.setdefault("call", (module, args, kwargs, output))

    layer = anatomy.decoder_layers(model)[0].self_attn
    handle = layer.register_forward_hook(keep, with_kwargs=True)
    with torch.no_grad():
        model(input_ids=ids(2, 12), use_cache=False)
    handle.remove()
    module, args, kwargs, (expected, _) = captured["call"]
    hidden = args[0] if args else kwargs.pop("hidden_states")
    kwargs = {k: v for k, v in kwargs.items() if k != "hidden_states"}
    with torch.no_grad():
        heads, _, q = anatomy.attention_heads(module, hidden, **kwargs)
    torch.testing.assert_close(module.o_proj(heads.reshape(2, 12, -1)), expected)
    assert q.shape == (2, model.config.num_attention_heads, 12, module.head_dim)


@pytest.mark.parametrize("family", FAMILIES)
def test_gated_memory_at_init_equals_the_base_model_and_its_generation(family):
    model = tiny_model(family)
    prompt = ids(2, 14, seed=1)
    with torch.no_grad():
        expected = model(input_ids=prompt).logits
        expected_tokens = model.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)
        wrapped = attach_gated_memory(model)
        got = model(input_ids=prompt).logits
        got_tokens = model.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)
        wrapped.detach()
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert torch.equal(got_tokens, expected_tokens)


def test_gated_memory_equals_the_naive_per_head_reference_once_its_gate_is_open():
    from reference_lift import gated_attention

    model = tiny_model("llama")
    wrapped = attach_gated_memory(model)
    attention = anatomy.decoder_layers(model)[0].self_attn
    assert isinstance(attention, GatedMemoryAttention)
    with torch.no_grad():
        attention.qf_lift_gate_out.normal_(0, 1.0)  # an open, token-dependent gate
        hidden = torch.randn(1, 11, 64, generator=torch.Generator().manual_seed(4))
        position_embeddings = model.model.rotary_emb(hidden, torch.arange(11)[None])
        mask = torch.full((11, 11), float("-inf")).triu(1)[None, None]
        got, _ = attention(hidden, position_embeddings=position_embeddings, attention_mask=mask)
        expected = gated_attention(attention.base_layer, attention, hidden[0], model.config.rope_parameters["rope_theta"])
        _, g = attention.memory_and_gate(torch.randn(1, 4, 11, 16))
    wrapped.detach()
    torch.testing.assert_close(got[0], expected, rtol=1e-5, atol=1e-5)
    assert float(g.abs().max()) > 0.01  # the gate really mixes memory in


@pytest.mark.parametrize("adapter,lr", [("lora", 1e-2), ("gated", 3e-2)])
def test_adaptation_lowers_the_loss_on_the_document_and_restores_the_model(adapter, lr):
    model = tiny_model("llama")
    document = ids(1, 120, seed=5)[0].tolist()
    samples = training_samples(document, 32, 12)
    names = [name for name, _ in model.named_parameters()]
    before = sample_loss(model, samples)
    with torch.no_grad():
        logits = model(input_ids=ids(1, 20)).logits
    config = LiftConfig(lift_adapter=adapter, lift_lr=lr, lift_epochs=4)
    adapted = adapt(model, samples, config)
    assert adapted.steps == adapted.planned == 4 * len(samples)
    assert adapted.loss_end < adapted.loss_start
    assert [name for name, _ in model.named_parameters()] == names  # detached: the very same modules
    assert all(p.requires_grad for p in model.parameters())  # flags restored
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids(1, 20)).logits, logits)
    lifted = attach_lift(model, config)
    lifted.load(adapted.tensors)
    after = sample_loss(model, samples)
    lifted.detach()
    assert after < before - 0.2, (before, after)


def test_step_and_second_budgets_stop_adaptation():
    model = tiny_model("llama")
    samples = training_samples(ids(1, 80, seed=6)[0].tolist(), 16, 8)
    assert adapt(model, samples, LiftConfig(lift_steps=3)).steps == 3
    timed = adapt(model, samples, LiftConfig(lift_seconds=1e-9))
    assert timed.steps == 1 and timed.planned == 3 * len(samples)  # at least one step, then the budget stops it


# -- the strategy and its cache ----------------------------------------------------------------------
@pytest.fixture
def lift_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QFOCUS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "lift"


def lift_strategy(**settings):
    from qfocus.strategies import get_strategy

    lift = LiftConfig(**{"lift_steps": 3, "lift_segment": 24, "lift_context": 0, **settings})
    return get_strategy("lift", SummarizeConfig(strategy="lift", context_window=200, lift=lift,
                                                generation=GenerationConfig(max_new_tokens=4)))


def test_second_query_loads_the_cached_adapter_which_equals_a_fresh_adaptation(tiny_lm, lift_cache):
    from conftest import long_text

    document = long_text(120)
    strategy = lift_strategy()
    first = strategy.summarize(tiny_lm, document, "What was decided?")
    second = strategy.summarize(tiny_lm, document, "Who spoke?")
    assert not first.training["cached"] and second.training["cached"]
    assert first.training["key"] == second.training["key"] and first.training["steps"] == 3
    entry = cache.load(first.training["key"])
    assert list(lift_cache.iterdir()) == [lift_cache / first.training["key"]]
    builder = PromptBuilder(tiny_lm.tokenizer)
    again, _, _ = strategy.adapt(tiny_lm, builder.encode(document), builder, None)  # fresh, same seed
    assert set(again.tensors) == set(entry.tensors)
    for name, tensor in again.tensors.items():
        torch.testing.assert_close(tensor, entry.tensors[name], rtol=0, atol=0)
    assert json.loads(json.dumps(first.to_dict()))["training"]["steps"] == 3
    # a changed document or setting misses the cache
    assert not strategy.summarize(tiny_lm, document + " One more line.", "What was decided?").training["cached"]
    assert not lift_strategy(lift_lr=2e-3).summarize(tiny_lm, document, "What was decided?").training["cached"]
    assert len(list(lift_cache.iterdir())) == 3


def test_interrupted_adaptation_leaves_no_cache_entry(tiny_lm, lift_cache):
    from conftest import long_text

    from qfocus.generation import Callbacks

    def stop(step, steps, loss):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lift_strategy().summarize(tiny_lm, long_text(120), "What was decided?", Callbacks(on_step=stop))
    assert not lift_cache.exists() or not list(lift_cache.iterdir())
    with torch.no_grad():  # and the model is back to itself
        assert not any("qf_lift" in name or "qf_lora" in name for name, _ in tiny_lm.model.named_parameters())


def test_interrupted_write_leaves_no_entry(lift_cache, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "save_file", broken)
    with pytest.raises(KeyboardInterrupt):
        cache.store("abc", {"x": torch.zeros(2)}, {"steps": 1})
    assert list(lift_cache.iterdir()) == []
    assert cache.load("abc") is None


def test_lift_over_a_static_hyperexpert_starts_equal_to_it_and_answers(tiny_checkpoint, lift_cache):
    from conftest import long_text

    from qfocus.hyper import HyperConfig, attach
    from qfocus.models import load_model

    lm = load_model(str(tiny_checkpoint))
    lm.expert = attach(lm.model, HyperConfig(method="lora", dropout=0.0))
    with torch.no_grad():
        for name, p in lm.expert.named_adapter_parameters().items():
            p.normal_(0, 0.05)
        tokens = ids(1, 16, vocab=300)
        expected = lm.model(input_ids=tokens).logits
        lifted = attach_lift(lm.model, LiftConfig())
        torch.testing.assert_close(lm.model(input_ids=tokens).logits, expected, rtol=0, atol=0)
        lifted.detach()
    summary = lift_strategy().summarize(lm, long_text(120), "What was decided?")
    assert summary.training["steps"] == 3 and summary.training["key"]


def test_bad_lift_settings_are_one_line_errors(tiny_lm, tmp_path, capsys):
    from qfocus.cli import main

    for bad in (dict(lift_adapter="ia3"), dict(lift_stride=0), dict(lift_steps=0), dict(lift_lr=0),
                dict(lift_targets=("q", "x")), dict(lift_segment=4), dict(lift_seconds=-1), dict(lift_context=-1), dict(lift_qa=-2)):
        with pytest.raises(InputError):
            LiftConfig(**bad)
    with pytest.raises(InputError, match="window"):
        lift_strategy(lift_segment=150, lift_context=100).summarize(tiny_lm, "word " * 400, "What?")
    doc = tmp_path / "doc.md"
    doc.write_text("The board met on Tuesday.\n" * 20)
    assert main(["summarize", str(doc), "-q", "What?", "--strategy", "lift", "--lift-adapter", "ia3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "lift_adapter" in err


def test_ideal_adapter_is_refused_by_lift():
    from qfocus.strategies.lift import Lift

    with pytest.raises(InputError, match="static adapter"):
        Lift().check_adapter({"method": "ideal-lora", "memory": False})


def test_cache_list_and_clear(tiny_lm, lift_cache, capsys):
    from conftest import long_text

    from qfocus.cli import main

    lift_strategy().summarize(tiny_lm, long_text(120), "What was decided?")
    (lift_cache / ".tmp-stale-1").mkdir()  # what a killed process could leave
    assert main(["cache", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["kind"], r["bytes"] > 0) for r in rows] == [("lift", True)] and "3 steps" in rows[0]["about"]
    assert main(["cache", "clear", "--kind", "lift"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert list(lift_cache.iterdir()) == []
    assert main(["cache", "list"]) == 0 and "empty" in capsys.readouterr().out


# -- auxiliary QA -------------------------------------------------------------------------------------
def test_qa_pairs_parse_and_become_answering_samples_with_loss_on_the_answer(tiny_lm):
    from qfocus.lift.qa import Pair, parse_pair, passages, qa_samples, write_pairs

    windows = passages(list(range(100)), 3, 16, random.Random(0))
    assert all(len(w) == 16 and w == list(range(w[0], w[0] + 16)) for w in windows)
    written = write_pairs(tiny_lm, list(range(5, 60)), 2, 16, random.Random(0), GenerationConfig(max_new_tokens=4))
    assert len(written) <= 2 and all(isinstance(p, Pair) for p in written)  # a random model rarely writes one
    assert parse_pair("Sure!\nQuestion: Who chairs the board?\nAnswer: Ms. Tran.\nQuestion: more") == \
        Pair("Who chairs the board?", "Ms. Tran.")
    assert parse_pair("Question: ?\nAnswer:") is None and parse_pair("no pair here") is None
    builder = PromptBuilder(tiny_lm.tokenizer)
    document = builder.encode("The board met on Tuesday to discuss the budget. " * 40)
    pair = Pair("When did the board meet?", "On Tuesday.")
    (sample,) = qa_samples(builder, [pair, Pair("x " * 300, "y")], document, 200, tiny_lm.tokenizer.eos_token_id)
    answer = builder.encode("On Tuesday.") + [tiny_lm.tokenizer.eos_token_id]
    assert len(sample.input_ids) <= 200 and sample.input_ids[sample.prefix:] == answer
    assert sample.labels[: sample.prefix] == [IGNORE] * sample.prefix
    prompt = tiny_lm.tokenizer.decode(sample.input_ids[: sample.prefix])
    assert "When did the board meet?" in prompt and "[...]" in prompt  # the truncated document, as truncate reads it


def test_lift_trains_on_the_written_pairs_too(tiny_lm, lift_cache, monkeypatch):
    from conftest import long_text

    from qfocus.lift.qa import Pair
    from qfocus.strategies import lift as lift_module

    asked = {}

    def fake_pairs(lm, document, count, span, rng, generation):
        asked["count"] = count
        return [Pair("What was decided?", "To ship it.")] * count

    monkeypatch.setattr(lift_module, "write_pairs", fake_pairs)
    strategy = lift_strategy(lift_qa=2, lift_steps=None, lift_epochs=1)
    summary = strategy.summarize(tiny_lm, long_text(60), "What was decided?")
    builder = PromptBuilder(tiny_lm.tokenizer)
    segments = len(segment_spans(len(builder.encode(long_text(60))), 24, 9))
    assert asked["count"] == 2 and summary.training["qa_pairs"] == 2
    assert summary.training["steps"] == segments + 2
