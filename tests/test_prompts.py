"""Prompt construction and token-exact budgeting."""

from __future__ import annotations

import pytest

from conftest import long_text
from qfocus.config import GenerationConfig, SummarizeConfig
from qfocus.errors import DocumentTooLong, InputError
from qfocus.prompts import ELISION, PromptBuilder, document_budget, keep_head_and_tail
from qfocus.strategies import get_strategy

QUERY = "What did the board decide about the budget?"


def test_query_before_and_after_document_in_chat_template(tiny_lm):
    builder = PromptBuilder(tiny_lm.tokenizer)
    prompt = builder.build(QUERY, builder.encode("The board approved the budget."))
    text = tiny_lm.tokenizer.decode(prompt.input_ids)
    assert text.startswith("<|im_start|>user\n")
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    first, document, second = text.index(QUERY), text.index("The board approved"), text.rindex(QUERY)
    assert first < document < second


def test_query_mask_marks_exactly_the_first_query(tiny_lm):
    builder = PromptBuilder(tiny_lm.tokenizer)
    prompt = builder.build(QUERY, builder.encode(long_text(50)))
    masked = [i for i, m in zip(prompt.input_ids, prompt.query_mask) if m]
    assert tiny_lm.tokenizer.decode(masked) == QUERY
    positions = [p for p, m in enumerate(prompt.query_mask) if m]
    assert positions == list(range(positions[0], positions[0] + len(positions)))  # one contiguous span
    assert len(prompt.query_mask) == len(prompt.input_ids)


def test_pieces_concatenate_to_the_prompt_and_count_its_overhead(tiny_lm):
    builder = PromptBuilder(tiny_lm.tokenizer)
    document = builder.encode(long_text(30))
    prefix, query, middle, suffix = builder.pieces(QUERY)
    prompt = builder.build(QUERY, document)
    assert prompt.input_ids == prefix + query + middle + document + suffix
    assert len(prompt) == builder.overhead(QUERY) + len(document)


def test_base_model_gets_plain_prompt_with_bos(tiny_base_lm):
    tokenizer = tiny_base_lm.tokenizer
    builder = PromptBuilder(tokenizer)
    prompt = builder.build(QUERY, builder.encode("Minutes."))
    assert prompt.input_ids[0] == tokenizer.bos_token_id
    assert prompt.input_ids.count(tokenizer.bos_token_id) == 1
    assert tokenizer.decode(prompt.input_ids[1:]).endswith("Answer:\n")


def test_keep_head_and_tail_keeps_both_ends_within_budget():
    ids = list(range(1000))
    marker = [-1, -2]
    for budget in (4, 10, 101, 500, 999):
        for fraction in (0.0, 0.25, 0.5, 1.0):
            kept = keep_head_and_tail(ids, budget, fraction, marker)
            assert len(kept) == budget
            cut = kept.index(-1)
            head, tail = kept[:cut], kept[cut + len(marker):]
            assert head == ids[: len(head)] and tail == ids[len(ids) - len(tail):]
            assert len(head) >= 1 and len(tail) >= 1
    assert keep_head_and_tail(ids, 1000, 0.5, marker) == ids  # fits: untouched
    assert keep_head_and_tail(ids, 3, 0.5, marker) == [0, 1, 2]  # no room for a marker: the head alone
    assert keep_head_and_tail(ids, 401, 0.75, marker)[:299] == ids[:299]


@pytest.mark.parametrize("words", [5, 60, 150, 400, 2000])
@pytest.mark.parametrize("max_new_tokens", [1, 16, 64])
def test_truncated_prompt_never_exceeds_window(tiny_lm, words, max_new_tokens):
    config = SummarizeConfig(generation=GenerationConfig(max_new_tokens=max_new_tokens))
    strategy = get_strategy("truncate", config)
    document = long_text(words)
    prompt = strategy.prepare(tiny_lm, document, QUERY)
    assert len(prompt) + max_new_tokens <= tiny_lm.context_window
    ids = PromptBuilder(tiny_lm.tokenizer).encode(document)
    assert prompt.document_tokens == len(ids)
    if prompt.truncated_tokens:  # the window is filled exactly, and both ends survive
        assert len(prompt) + max_new_tokens == tiny_lm.context_window
        marker = PromptBuilder(tiny_lm.tokenizer).encode(ELISION)
        text = prompt.input_ids
        start = text.index(ids[0], sum(1 for m in prompt.query_mask if m))
        assert text[start:start + 5] == ids[:5]
        assert any(text[i:i + len(marker)] == marker for i in range(len(text)))
        suffix_len = len(PromptBuilder(tiny_lm.tokenizer).pieces(QUERY)[3])
        assert text[len(text) - suffix_len - 5: len(text) - suffix_len] == ids[-5:]
    else:
        assert prompt.kept_document_tokens == len(ids)


def test_context_window_option_overrides_model_window(tiny_lm):
    config = SummarizeConfig(context_window=160, generation=GenerationConfig(max_new_tokens=8))
    prompt = get_strategy("truncate", config).prepare(tiny_lm, long_text(500), QUERY)
    assert len(prompt) == 160 - 8


def test_full_refuses_a_document_that_does_not_fit(tiny_lm):
    full = get_strategy("full", SummarizeConfig(generation=GenerationConfig(max_new_tokens=16)))
    with pytest.raises(DocumentTooLong, match="use --strategy truncate"):
        full.prepare(tiny_lm, long_text(2000), QUERY)
    prompt = full.prepare(tiny_lm, "The board approved the budget.", QUERY)
    assert prompt.truncated_tokens == 0


def test_query_too_long_for_window_is_an_input_error(tiny_lm):
    with pytest.raises(InputError, match="shorten the query"):
        get_strategy("truncate").prepare(tiny_lm, "short document", "why " * 400)
    with pytest.raises(InputError):
        document_budget(window=100, overhead=90, max_new_tokens=10)
