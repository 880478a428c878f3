"""The strategy interface, the registry, and decoding equal to transformers' own generate."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

import qfocus
from conftest import long_text
from qfocus.config import GenerationConfig, SummarizeConfig
from qfocus.errors import InputError
from qfocus.generation import Callbacks, generate, prefill
from qfocus.models.kv_cache import with_cache
from qfocus.strategies import STRATEGIES, Strategy, Summary, get_strategy, register

QUERY = "What was decided?"


def test_registry_lists_builtin_strategies_and_rejects_unknown():
    assert {"truncate", "full", "lead"} <= set(STRATEGIES)
    with pytest.raises(InputError, match="unknown strategy 'nope': use one of .*full.*truncate"):
        get_strategy("nope")


def test_a_registered_strategy_is_reachable_through_summarize(tiny_lm):
    @register
    class Echo(Strategy):
        name = "echo-test"
        description = "returns the query"

        def summarize(self, lm, document, query, callbacks=None):
            return Summary(query, self.name, lm.name, 0, 0, 0, 0, 0.0)

    try:
        assert qfocus.summarize("doc", "q?", tiny_lm, strategy="echo-test").summary == "q?"
    finally:
        STRATEGIES.pop("echo-test")


@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_chunked_prefill_then_generate_equals_plain_generate(tiny_lm, chunk):
    config = SummarizeConfig(generation=GenerationConfig(max_new_tokens=12, prefill_chunk=chunk, repetition_penalty=1.0))
    prompt = get_strategy("truncate", config).prepare(tiny_lm, long_text(60), QUERY)
    ours = generate(tiny_lm, prompt.input_ids, config.generation)
    ids = torch.tensor([prompt.input_ids])
    reference = tiny_lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                                       pad_token_id=tiny_lm.tokenizer.pad_token_id, eos_token_id=sorted(stop_ids(tiny_lm)))
    expected = tiny_lm.tokenizer.decode(reference[0, ids.shape[1]:], skip_special_tokens=True).strip()
    assert ours.text == expected
    new = reference[0, ids.shape[1]:].tolist()
    assert ours.new_tokens == len(new) - (new[-1] in stop_ids(tiny_lm))  # the stop token is not the answer's


def test_prefill_cache_matches_one_forward_pass(tiny_lm):
    ids = torch.randint(5, len(tiny_lm.tokenizer), (1, 40))
    cache = prefill(tiny_lm, ids, chunk=9)
    with torch.inference_mode():
        chunked = tiny_lm.model(input_ids=ids[:, -1:] * 0 + 7, **with_cache(cache)).logits
        whole = tiny_lm.model(input_ids=torch.cat([ids, ids[:, -1:] * 0 + 7], 1)).logits[:, -1:]
    torch.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-5)


def test_summary_metadata_and_streaming(tiny_lm):
    streamed, progress = [], []
    config = SummarizeConfig(generation=GenerationConfig(max_new_tokens=20, prefill_chunk=64))
    callbacks = Callbacks(on_token=streamed.append, on_progress=lambda *a: progress.append(a))
    result = qfocus.summarize(long_text(600), QUERY, tiny_lm, config=config, callbacks=callbacks)
    assert result.strategy == "truncate" and result.model == tiny_lm.name
    assert result.prompt_tokens + 20 <= tiny_lm.context_window
    assert result.truncated_tokens > 0 and result.document_tokens > result.prompt_tokens
    assert result.answer_tokens <= 20 and (result.answer_tokens > 0) == bool(result.summary)  # no stop token counted
    assert "".join(streamed).strip() == result.summary
    assert progress[-1] == ("reading prompt", result.prompt_tokens - 1, result.prompt_tokens - 1)
    assert set(result.to_dict()) >= {"summary", "strategy", "model", "prompt_tokens", "document_tokens",
                                     "truncated_tokens", "seconds"}


@pytest.mark.parametrize("temperature", [0.0, 1.0])  # our greedy loop, and sampling through transformers' generate
def test_the_cache_goes_under_the_name_this_transformers_takes(tiny_lm, temperature):
    """No "`past_key_values` is deprecated" warning on every summarize (transformers 5.24 renamed it)."""
    config = SummarizeConfig(generation=GenerationConfig(max_new_tokens=4, prefill_chunk=64, temperature=temperature))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        qfocus.summarize(long_text(300), QUERY, tiny_lm, config=config)
    assert not [w for w in caught if "past_key_values" in str(w.message)]


def test_sampling_is_seeded(tiny_lm):
    config = GenerationConfig(max_new_tokens=10, temperature=1.0, top_p=0.9, seed=3)
    prompt = get_strategy("truncate").prepare(tiny_lm, long_text(40), QUERY)
    assert generate(tiny_lm, prompt.input_ids, config).text == generate(tiny_lm, prompt.input_ids, config).text


def test_empty_inputs_are_refused_by_the_library(tiny_lm):
    with pytest.raises(InputError, match="document is empty"):
        qfocus.summarize("  \n", QUERY, tiny_lm)
    with pytest.raises(InputError, match="query is empty"):
        qfocus.summarize("text", " ", tiny_lm)


@pytest.mark.parametrize("bad", [dict(max_new_tokens=0), dict(temperature=-1), dict(top_p=0), dict(prefill_chunk=0)])
def test_generation_config_validation(bad):
    with pytest.raises(InputError):
        GenerationConfig(**bad)


def stop_ids(lm) -> set[int]:
    """The reference's end of an answer: the tokenizer's eos and the chat-turn boundaries it has."""
    turns = [t for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>") if t in lm.tokenizer.get_added_vocab()]
    return {lm.tokenizer.eos_token_id, *lm.tokenizer.convert_tokens_to_ids(turns)}


def naive_greedy(model, ids: list[int], steps: int, penalty: float, stops: set[int], expert=None,
                 query_mask=None) -> list[int]:
    """Reference decoder: full forward each step; the penalty touches only tokens of the answer so far.

    With an `expert`, every step runs in a fresh query context over the whole sequence.
    """
    answer: list[int] = []
    for _ in range(steps):
        mask = torch.tensor([list(query_mask or []) + [False] * (len(ids) + len(answer) - len(query_mask or []))])
        with torch.no_grad(), (expert.query(mask) if expert else contextlib.nullcontext()):
            logits = model(input_ids=torch.tensor([ids + answer])).logits[0, -1]
        for token in set(answer):
            logits[token] = logits[token] / penalty if logits[token] > 0 else logits[token] * penalty
        answer.append(int(logits.argmax()))
        if answer[-1] in stops:
            break
    return answer


def test_repetition_penalty_applies_to_the_answer_only(tiny_lm):
    config = GenerationConfig(max_new_tokens=15, repetition_penalty=1.8, prefill_chunk=16)
    prompt = get_strategy("truncate").prepare(tiny_lm, long_text(60), QUERY)
    expected = naive_greedy(tiny_lm.model, prompt.input_ids, 15, 1.8, stop_ids(tiny_lm))
    text = tiny_lm.tokenizer.decode(expected, skip_special_tokens=True).strip()
    assert generate(tiny_lm, prompt.input_ids, config).text == text
    # and the answer-only penalty really differs from penalising prompt tokens as well
    ids = torch.tensor([prompt.input_ids])
    both = tiny_lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=15, do_sample=False,
                                  repetition_penalty=1.8, pad_token_id=tiny_lm.tokenizer.pad_token_id)
    assert both[0, ids.shape[1]:].tolist() != expected


@pytest.mark.parametrize("method", ["ideal-lora", "ideal-prompt", "padapter"])
def test_generation_with_an_adapter_equals_naive_loop(tiny_lm, method):
    from qfocus.hyper import HyperConfig, attach

    expert = attach(tiny_lm.model, HyperConfig(method=method, dropout=0.0))
    torch.manual_seed(4)
    with torch.no_grad():
        for parameter in expert.named_adapter_parameters().values():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    tiny_lm.expert = expert
    try:
        config = GenerationConfig(max_new_tokens=12, repetition_penalty=1.3, prefill_chunk=5)  # query spans chunks
        prompt = get_strategy("truncate").prepare(tiny_lm, long_text(50), QUERY)
        expected = naive_greedy(tiny_lm.model, prompt.input_ids, 12, 1.3, stop_ids(tiny_lm),
                                expert, prompt.query_mask)
        ours = generate(tiny_lm, prompt.input_ids, config, query_mask=prompt.query_mask)
        assert ours.text == tiny_lm.tokenizer.decode(expected, skip_special_tokens=True).strip()
    finally:
        tiny_lm.expert = None
        expert.detach()
    assert generate(tiny_lm, prompt.input_ids, config).text != ours.text  # the adapter mattered


def test_lead_takes_the_first_thirty_words_without_the_model(tiny_lm, monkeypatch):
    monkeypatch.setattr(tiny_lm.model, "forward", None)  # any model call would fail
    document = " ".join(f"w{i}" for i in range(100))
    result = qfocus.summarize(document, QUERY, tiny_lm, strategy="lead")
    assert result.summary == " ".join(f"w{i}" for i in range(30))
    assert result.prompt_tokens == 0 and result.strategy == "lead"


@pytest.mark.parametrize("words", [30, 900])
def test_truncate_lists_the_spans_it_kept(tiny_lm, words):
    """The head and tail spans, re-encoded, are exactly the document tokens in the prompt."""
    from qfocus.prompts import ELISION, PromptBuilder

    document = long_text(words)
    strategy = get_strategy("truncate", SummarizeConfig(adapter="none", generation=GenerationConfig(max_new_tokens=8)))
    plan = strategy.plan(tiny_lm, document, "What was said?")
    builder = PromptBuilder(tiny_lm.tokenizer)
    spans = plan.passages
    kept = [builder.encode(document[s["start"]:s["end"]]) for s in spans]
    if words == 30:
        assert spans == [{"start": 0, "end": len(document), "reason": "whole"}]
        expected = kept[0]
    else:
        assert [s["reason"] for s in spans] == ["head", "tail"] and spans[0]["start"] == 0 and spans[1]["end"] == len(document)
        assert spans[0]["end"] < spans[1]["start"]
        expected = kept[0] + builder.encode(ELISION) + kept[1]
    prefix, query, middle, suffix = builder.pieces("What was said?")
    assert plan.prompt.input_ids[len(prefix) + len(query) + len(middle):len(plan.prompt.input_ids) - len(suffix)] == expected
