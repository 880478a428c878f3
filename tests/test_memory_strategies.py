"""`ideal` and `infini`: decoding through memory equals the reference loops, and the strategies read
documents many times longer than the window without cutting anything."""

from __future__ import annotations

import pytest
import torch

import qfocus
from conftest import long_text
from qfocus.config import GenerationConfig, SummarizeConfig
from qfocus.errors import InputError
from qfocus.generation import Callbacks, generate_with_memory
from qfocus.hyper import HyperConfig, attach
from qfocus.memory.segments import attach_memory, read
from qfocus.prompts import PromptBuilder
from qfocus.strategies import get_strategy
from test_strategies import QUERY, naive_greedy, stop_ids


def prompt_of(lm, words: int):
    builder = PromptBuilder(lm.tokenizer)
    return builder.build(QUERY, builder.encode(long_text(words)))


def shake(module_or_expert, scale: float = 0.3, seed: int = 4) -> None:
    torch.manual_seed(seed)
    parameters = (module_or_expert.named_adapter_parameters().values() if hasattr(module_or_expert, "named_adapter_parameters")
                  else [p for n, p in module_or_expert.named_parameters() if "qf_" in n])
    with torch.no_grad():
        for parameter in parameters:
            parameter.add_(torch.randn_like(parameter) * scale)


def test_decoding_inside_one_segment_equals_the_naive_loop_with_a_hyperexpert(tiny_lm):
    """One segment and empty memory: memory decoding = full forward every step (adapter + penalty)."""
    expert = attach(tiny_lm.model, HyperConfig(method="ideal-lora", dropout=0.0))
    shake(expert)
    prompt = prompt_of(tiny_lm, 40)
    expected = naive_greedy(tiny_lm.model, prompt.input_ids, 12, 1.3, stop_ids(tiny_lm),
                            expert, prompt.query_mask)
    handle = attach_memory(tiny_lm.model)
    tiny_lm.expert = expert
    try:
        config = GenerationConfig(max_new_tokens=12, repetition_penalty=1.3)
        ours = generate_with_memory(tiny_lm, handle, prompt.input_ids, prompt.query_mask, 256, config)
    finally:
        tiny_lm.expert = None
        handle.detach()
        expert.detach()
    assert ours.text == tiny_lm.tokenizer.decode(expected, skip_special_tokens=True).strip()


@pytest.mark.parametrize("segment", [48, 61])
def test_decoding_across_segments_equals_rereading_the_sequence(tiny_lm, segment):
    """Every step's token = greedy (with the answer-only penalty) on a fresh segment read of prompt + answer."""
    prompt = prompt_of(tiny_lm, 30)
    assert len(prompt) > 2 * segment
    handle = attach_memory(tiny_lm.model)
    shake(tiny_lm.model)
    try:
        ours = generate_with_memory(tiny_lm, handle, prompt.input_ids, prompt.query_mask, segment,
                                    GenerationConfig(max_new_tokens=20, repetition_penalty=1.3))
        answer, stops = [], stop_ids(tiny_lm)
        with torch.no_grad():
            for _ in range(20):
                ids = torch.tensor([prompt.input_ids + answer])
                mask = torch.tensor([prompt.query_mask + [False] * len(answer)])
                logits, _ = read(tiny_lm.model, handle, ids, mask, segment)
                logits = logits[0, -1]
                for token in set(answer):
                    logits[token] = logits[token] / 1.3 if logits[token] > 0 else logits[token] * 1.3
                answer.append(int(logits.argmax()))
                if answer[-1] in stops:
                    answer.pop()
                    break
    finally:
        handle.detach()
        for name, parameter in list(tiny_lm.model.named_parameters()):
            assert "qf_" not in name
    assert ours.new_tokens == len(answer)
    assert ours.text == tiny_lm.tokenizer.decode(answer, skip_special_tokens=True).strip()


def test_memory_wrappers_follow_the_model_mode(tiny_lm):
    handle = attach_memory(tiny_lm.model)  # tiny_lm is loaded for inference: eval mode
    try:
        wrappers = [m for m in tiny_lm.model.modules() if type(m).__name__ == "MemoryAttention"]
        assert wrappers and not any(m.training for m in wrappers)
    finally:
        handle.detach()


def test_sampling_through_memory_is_seeded(tiny_lm):
    prompt = prompt_of(tiny_lm, 30)
    handle = attach_memory(tiny_lm.model)
    try:
        config = GenerationConfig(max_new_tokens=10, temperature=1.0, top_p=0.9, seed=3)
        runs = [generate_with_memory(tiny_lm, handle, prompt.input_ids, prompt.query_mask, 64, config).text
                for _ in range(2)]
        other = generate_with_memory(tiny_lm, handle, prompt.input_ids, prompt.query_mask, 64,
                                     GenerationConfig(max_new_tokens=10, temperature=1.0, top_p=0.9, seed=4)).text
    finally:
        handle.detach()
    assert runs[0] == runs[1] and runs[0] != other


def test_infini_reads_a_document_many_times_the_window_whole(tiny_lm):
    streamed, progress = [], []
    config = SummarizeConfig(strategy="infini", segment=64, generation=GenerationConfig(max_new_tokens=10))
    callbacks = Callbacks(on_token=streamed.append, on_progress=lambda *a: progress.append(a))
    result = qfocus.summarize(long_text(1500), QUERY, tiny_lm, config=config, callbacks=callbacks)
    assert result.strategy == "infini" and result.truncated_tokens == 0
    assert result.prompt_tokens > 5 * tiny_lm.context_window and result.document_tokens < result.prompt_tokens
    assert "".join(streamed).strip() == result.summary and 1 <= result.answer_tokens <= 10
    assert progress[-1] == ("reading prompt", result.prompt_tokens, result.prompt_tokens)
    assert len(progress) == -(-result.prompt_tokens // 64)  # one report per segment
    assert not any("qf_" in name for name, _ in tiny_lm.model.named_parameters())  # untrained gates removed after


def test_memory_strategies_refuse_what_they_cannot_use(tiny_lm):
    with pytest.raises(InputError, match="--strategy ideal needs an IDEAL adapter trained with memory, got no adapter"):
        get_strategy("ideal").summarize(tiny_lm, long_text(50), QUERY)
    expert = attach(tiny_lm.model, HyperConfig(method="lora"))
    tiny_lm.expert = expert
    try:
        with pytest.raises(InputError, match="infini needs an adapter trained with --memory"):
            get_strategy("infini").summarize(tiny_lm, long_text(50), QUERY)
        with pytest.raises(InputError, match="method lora without memory"):
            get_strategy("ideal").summarize(tiny_lm, long_text(50), QUERY)
    finally:
        tiny_lm.expert = None
        expert.detach()
    expert = attach(tiny_lm.model, HyperConfig(method="none", memory=True))
    tiny_lm.expert = expert
    try:
        with pytest.raises(InputError, match="trained with --memory and reads in segments: use --strategy ideal"):
            get_strategy("truncate").summarize(tiny_lm, long_text(50), QUERY)
    finally:
        tiny_lm.expert = None
        expert.detach()
    with pytest.raises(InputError, match="the first segment holds 8 tokens"):
        get_strategy("infini", SummarizeConfig(segment=8)).summarize(tiny_lm, long_text(50), QUERY)
    assert not any("qf_" in name for name, _ in tiny_lm.model.named_parameters())


def test_an_unusable_adapter_is_refused_before_loading_a_model(tiny_lm, tmp_path):
    expert = attach(tiny_lm.model, HyperConfig(method="lora"))
    try:
        expert.save(tmp_path / "plain")
    finally:
        expert.detach()
    with pytest.raises(InputError, match="method lora without memory"):
        get_strategy("ideal", SummarizeConfig(adapter=str(tmp_path / "plain")))
    with pytest.raises(InputError, match="infini needs an adapter trained with --memory"):
        get_strategy("infini", SummarizeConfig(adapter=str(tmp_path / "plain")))
    get_strategy("truncate", SummarizeConfig(adapter=str(tmp_path / "plain")))  # fine
