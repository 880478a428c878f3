"""FocusLLM on tiny models of every family: an untrained candidate is an ordinary token (its keys and
values equal the model's own reading of chunk + prompt), batched chunks equal a per-chunk loop, a
decode step on the caches equals reading from scratch, the local pass equals the model itself
continuing from the candidates as its cache, and candidate projections save and load exactly."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from families import FAMILIES, tiny_model
from qfocus.errors import InputError
from qfocus.focus import attach_focus, candidate_cache, local_logits, read_chunks, split, step_chunks
from qfocus.models import anatomy
from qfocus.models.kv_cache import with_cache


def kv_of(cache, layer):
    return cache.layers[layer].keys, cache.layers[layer].values


def rotated(model, layer, keys, positions):
    attn = anatomy.decoder_layers(model)[layer].self_attn.base_layer
    cos, sin = anatomy.rotary_at(model, attn)(torch.tensor([positions]), keys)
    return anatomy.rotate(attn)(keys, keys, cos, sin)[1]


def ids(n, seed=0):
    return torch.randint(0, 160, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


@pytest.mark.parametrize("family", FAMILIES)
def test_an_untrained_candidate_is_the_model_reading_chunk_and_prompt(family):
    model = tiny_model(family)
    chunk, prompt = ids(20), ids(10, 1)
    with torch.no_grad():
        cache = model(torch.tensor([chunk + prompt]), use_cache=True).past_key_values
        handle = attach_focus(model)
        state = read_chunks(model, handle.context, [chunk], prompt, batch=4)
    for layer in range(2):
        keys, values = kv_of(cache, layer)
        n = keys.shape[2]  # a sliding-window layer's cache keeps only its window
        past_k, past_v = state.groups[0].past[layer]
        torch.testing.assert_close(past_k[:, :, -(n - 1):], keys[:, :, :-1])
        torch.testing.assert_close(past_v[:, :, -(n - 1):], values[:, :, :-1])
        cand_k, cand_v = state.candidates[layer]
        torch.testing.assert_close(rotated(model, layer, cand_k, [29]), keys[:, :, -1:])
        torch.testing.assert_close(cand_v, values[:, :, -1:])


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_chunks_equal_a_per_chunk_loop_and_steps_equal_reading_again(family):
    model = tiny_model(family)
    handle = attach_focus(model)
    with torch.no_grad():  # candidates that differ from the base projections
        for p in handle.candidate_parameters().values():
            p.add_(torch.randn_like(p) * 0.05)
    chunks, prompt = [ids(16, s) for s in range(3)] + [ids(7, 9)], ids(6, 5)
    with torch.no_grad():
        together = read_chunks(model, handle.context, chunks, prompt, batch=8)
        alone = [read_chunks(model, handle.context, [c], prompt, batch=1) for c in chunks]
        for layer in range(2):
            for i, single in enumerate(alone):
                torch.testing.assert_close(together.candidates[layer][0][:, :, i:i + 1], single.candidates[layer][0])
                torch.testing.assert_close(together.candidates[layer][1][:, :, i:i + 1], single.candidates[layer][1])
        stepped = step_chunks(model, handle.context, step_chunks(model, handle.context, together, 42), 7)
        again = read_chunks(model, handle.context, chunks, prompt + [42, 7], batch=2, keep=False)  # `reread`
    for layer in range(2):
        torch.testing.assert_close(stepped.candidates[layer][0], again.candidates[layer][0])
        torch.testing.assert_close(stepped.candidates[layer][1], again.candidates[layer][1])


@pytest.mark.parametrize("family", FAMILIES)
def test_the_local_pass_is_the_model_continuing_from_the_candidates(family):
    model = tiny_model(family)
    handle = attach_focus(model)
    chunks, local = [ids(12, s) for s in range(3)], ids(9, 7)
    with torch.no_grad():
        state = read_chunks(model, handle.context, chunks, local[-4:], batch=3)
        ours = local_logits(model, handle.context, state, local)
        cache = DynamicCache(config=model.config)
        for layer in range(2):
            keys, values = state.candidates[layer]
            cache.update(rotated(model, layer, keys, [0, 1, 2]), values, layer)
        theirs = model(torch.tensor([local]), **with_cache(cache), position_ids=torch.arange(3, 12)[None]).logits[:, -1]
        alone = local_logits(model, handle.context, read_chunks(model, handle.context, [], local[-4:], 1), local)
        plain = model(torch.tensor([local])).logits[:, -1]
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(alone, plain)  # no chunks: the model itself


@pytest.mark.parametrize("family", FAMILIES)
def test_the_candidate_cache_continues_the_local_pass_with_frozen_candidates(family):
    """Reading kept=False stores no chunk cache and the same candidates; the plain model on the
    candidate cache gives local_logits, and each further token its re-read with those candidates."""
    model = tiny_model(family)
    handle = attach_focus(model)
    chunks, local = [ids(12, s) for s in range(3)], ids(9, 7)
    with torch.no_grad():
        kept = read_chunks(model, handle.context, chunks, local[-4:], batch=2)
        state = read_chunks(model, handle.context, chunks, local[-4:], batch=2, keep=False)
        assert all(group.past == {} for group in state.groups) and state.stored_bytes() < kept.stored_bytes() / 4
        with pytest.raises(ValueError, match="keep=False"):
            step_chunks(model, handle.context, state, 5)
        cache = candidate_cache(model, state)
        first = model(torch.tensor([local]), **with_cache(cache), position_ids=torch.arange(3, 12)[None]).logits[:, -1]
        second = model(torch.tensor([[42]]), **with_cache(cache), position_ids=torch.tensor([[12]])).logits[:, -1]
        torch.testing.assert_close(first, local_logits(model, handle.context, kept, local))
        torch.testing.assert_close(second, local_logits(model, handle.context, state, local + [42]))


def test_a_plain_forward_is_unchanged_and_detach_restores_the_modules():
    model = tiny_model("llama")
    x = torch.tensor([ids(12)])
    before = model(x).logits
    originals = [layer.self_attn for layer in anatomy.decoder_layers(model)]
    handle = attach_focus(model)
    torch.testing.assert_close(model(x).logits, before, rtol=0, atol=0)
    handle.detach()
    assert [layer.self_attn for layer in anatomy.decoder_layers(model)] == originals


def test_candidate_projections_save_and_load_exactly(tmp_path):
    model, other = tiny_model("qwen2"), tiny_model("qwen2")
    handle = attach_focus(model)
    with torch.no_grad():
        for p in handle.candidate_parameters().values():
            p.add_(torch.randn_like(p))
    handle.save(tmp_path / "focus")
    loaded = attach_focus(other)
    loaded.load(tmp_path / "focus")
    for name, p in handle.candidate_parameters().items():
        torch.testing.assert_close(loaded.candidate_parameters()[name], p, rtol=0, atol=0)
    assert any(n.endswith("q_proj.bias") for n in handle.candidate_parameters())  # Qwen2's biases travel too
    with pytest.raises(InputError, match="another model"):
        attach_focus(tiny_model("llama")).load(tmp_path / "focus")
    with pytest.raises(InputError, match="no FocusLLM candidate projections"):
        loaded.load(tmp_path)


def test_split_into_chunks_prompt_and_local_context():
    chunks, prompt, local = split(list(range(25)), local=8, chunk=5, prompt=3)
    assert local == list(range(17, 25)) and prompt == [22, 23, 24]
    assert chunks == [list(range(0, 5)), list(range(5, 10)), list(range(10, 15)), [15, 16]]
    chunks, prompt, local = split(list(range(6)), local=8, chunk=5, prompt=512)
    assert chunks == [] and local == list(range(6)) and prompt == list(range(1, 6))  # min(512, chunk, local)


def hand_answer(tiny_lm, document, count, stepping):
    """Greedy tokens of a hand-driven loop over read_chunks / local_logits (local 64, chunks of 48,
    prompt 16), each token stepped into the chunks or (not `stepping`) the prompt's candidates kept;
    and the local context."""
    from qfocus.prompts import PromptBuilder

    builder = PromptBuilder(tiny_lm.tokenizer)
    chunks, prompt, local = split(builder.build("What was discussed?", builder.encode(document)).input_ids, 64, 48, 16)
    handle = attach_focus(tiny_lm.model)
    tokens = []
    try:
        with torch.no_grad():
            state = read_chunks(tiny_lm.model, handle.context, chunks, prompt, 3)
            for _ in range(count):
                tokens.append(int(local_logits(tiny_lm.model, handle.context, state, local + tokens).argmax()))
                if stepping:
                    state = step_chunks(tiny_lm.model, handle.context, state, tokens[-1])
    finally:
        handle.detach()
    return tokens, local


def test_the_focus_strategy_answers_long_and_short_documents(tiny_lm):
    """Greedy: the answer to a document that fits is the model's own; a long one reads chunks and
    decodes through the local pass, equal to a hand-driven loop over read_chunks/step_chunks."""
    from conftest import long_text
    from qfocus.config import FocusConfig, GenerationConfig, SummarizeConfig
    from qfocus.generation import Callbacks
    from qfocus.strategies import get_strategy

    generation = GenerationConfig(max_new_tokens=6, repetition_penalty=1.0)
    focus = get_strategy("focus", SummarizeConfig(adapter="none", generation=generation,
                                                  focus=FocusConfig(focus_local=64, focus_chunk=48, focus_prompt=16)))
    roomy = get_strategy("focus", SummarizeConfig(adapter="none", generation=generation, focus=FocusConfig(focus_local=200)))
    short = roomy.summarize(tiny_lm, "The board met on Tuesday.", "Who met?")  # 109 prompt tokens
    plain = get_strategy("full", SummarizeConfig(adapter="none", generation=generation)).summarize(
        tiny_lm, "The board met on Tuesday.", "Who met?")
    assert short.summary == plain.summary
    document, seen = long_text(200), []
    answer = focus.summarize(tiny_lm, document, "What was discussed?", Callbacks(on_progress=lambda *a: seen.append(a)))
    assert answer.strategy == "focus" and answer.truncated_tokens == 0 and answer.prompt_tokens > 64
    assert seen[-1][0] == "reading chunks" and seen[-1][1] == seen[-1][2] > 1
    tokens, _ = hand_answer(tiny_lm, document, answer.answer_tokens, stepping=True)
    assert answer.answer_tokens > 0 and tiny_lm.tokenizer.decode(tokens, skip_special_tokens=True).strip() == answer.summary


@pytest.mark.parametrize("mode", ["reread", "frozen"])
def test_the_bounded_decodes(tiny_lm, mode):
    """`reread` answers exactly what `cached` answers; `frozen` what a hand loop over the local pass
    with the prompt's candidates held fixed answers."""
    from conftest import long_text
    from qfocus.config import FocusConfig, GenerationConfig, SummarizeConfig
    from qfocus.strategies import get_strategy

    generation = GenerationConfig(max_new_tokens=6, repetition_penalty=1.0)

    def answer(decode):
        focus = FocusConfig(focus_local=64, focus_chunk=48, focus_prompt=16, focus_batch=2, focus_decode=decode)
        return get_strategy("focus", SummarizeConfig(adapter="none", generation=generation, focus=focus)).summarize(
            tiny_lm, long_text(200), "What was discussed?")

    ours = answer(mode)
    assert ours.answer_tokens > 0
    if mode == "reread":
        assert ours.summary == answer("cached").summary
        return
    tokens, local = hand_answer(tiny_lm, long_text(200), ours.answer_tokens, stepping=False)
    assert tiny_lm.tokenizer.decode(tokens, skip_special_tokens=True).strip() == ours.summary
    alone = []  # the local context without the chunks answers otherwise: the test sees the candidates
    with torch.no_grad():
        for _ in range(ours.answer_tokens):
            alone.append(int(tiny_lm.model(torch.tensor([local + alone])).logits[0, -1].argmax()))
    assert alone != tokens


def test_focus_decode_must_be_known():
    from qfocus.config import FocusConfig

    with pytest.raises(InputError, match="cached, reread, frozen"):
        FocusConfig(focus_decode="lazy")


# -- training the candidate projections -----------------------------------------------------------

def focus_run(tiny_checkpoint, out, **overrides):
    from qfocus.train import FocusTrainConfig

    settings = dict(model=str(tiny_checkpoint), out=str(out), max_tokens=200, local=40, min_local=10, chunks=(16, 32),
                    prompt=8, steps=12, lr=1e-2, save_every=4, keep_checkpoints=3)
    return FocusTrainConfig(**(settings | overrides))


def texts_of(tiny_lm):
    from conftest import long_text

    return [tiny_lm.tokenizer(long_text(400 + 40 * i), add_special_tokens=False)["input_ids"] for i in range(2)]


def test_both_losses_fall_on_the_samples_trained_on(tiny_checkpoint, tiny_lm, tmp_path):
    from qfocus.models import load_model
    from qfocus.train.focus import draw, focus_loss, train_focus

    config, texts = focus_run(tiny_checkpoint, tmp_path / "run", steps=16), texts_of(tiny_lm)
    tasks = {}
    for step in range(config.steps):  # a sample of each task among those trained on
        sample = draw(texts, config, step)
        tasks.setdefault(sample.task, sample)
    assert set(tasks) == {"continuation", "repetition"}

    def losses():
        lm = load_model(str(tiny_checkpoint))
        handle = attach_focus(lm.model)
        if (tmp_path / "run" / "focus.safetensors").exists():
            handle.load(tmp_path / "run")
        with torch.no_grad():
            return {task: float(focus_loss(lm.model, handle, s, config)) for task, s in tasks.items()}

    before = losses()
    summary = train_focus(config, texts=texts)
    after = losses()
    assert summary["steps"] == 16 and summary["parameters"]["trainable"] > 0
    for task in tasks:
        assert after[task] < before[task] - 0.05, (task, before, after)


def test_a_killed_focus_run_resumes_exactly(tiny_checkpoint, tiny_lm, tmp_path):
    import json

    from safetensors.torch import load_file

    from qfocus.train.focus import train_focus

    texts = texts_of(tiny_lm)
    train_focus(focus_run(tiny_checkpoint, tmp_path / "whole"), texts=texts)

    class Killed(Exception):
        pass

    def kill(record, total):
        if record["step"] == 6:
            raise Killed

    with pytest.raises(Killed):
        train_focus(focus_run(tiny_checkpoint, tmp_path / "cut"), on_step=kill, texts=texts)
    with pytest.raises(InputError, match="already holds a training run"):
        train_focus(focus_run(tiny_checkpoint, tmp_path / "cut"), texts=texts)
    with pytest.raises(InputError, match=r"other settings \(lr\)"):
        train_focus(focus_run(tiny_checkpoint, tmp_path / "cut", lr=1e-3, resume=True), texts=texts)
    summary = train_focus(focus_run(tiny_checkpoint, tmp_path / "cut", resume=True), texts=texts)
    assert summary["steps_this_process"] == 8  # from the step-4 checkpoint

    def log(name):
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                for line in (tmp_path / name / "log.jsonl").read_text().splitlines()]

    assert log("cut") == log("whole")
    for name, tensor in load_file(tmp_path / "whole" / "focus.safetensors").items():
        torch.testing.assert_close(load_file(tmp_path / "cut" / "focus.safetensors")[name], tensor, rtol=0, atol=0)


def test_sdpa_and_eager_read_alike():
    model = tiny_model("llama")
    handle = attach_focus(model)
    chunks, local = [ids(12, s) for s in range(3)], ids(9, 7)
    with torch.no_grad():
        eager = local_logits(model, handle.context, read_chunks(model, handle.context, chunks, local[-4:], 2), local)
        model.config._attn_implementation = "sdpa"
        sdpa = local_logits(model, handle.context, read_chunks(model, handle.context, chunks, local[-4:], 2), local)
    torch.testing.assert_close(sdpa, eager)


def test_bench_long_context_measures_focus(capsys, tmp_path, tiny_checkpoint):
    import json

    from qfocus.cli import main

    out = tmp_path / "lc.json"
    code = main(["bench", "long-context", "--model", str(tiny_checkpoint), "--lengths", "600", "1240", "--segment", "64",
                 "--window", "128", "--ways", "focus", "focus-bounded", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    rows = {(r["way"], r["length"]): r for r in json.loads(out.read_text())["rows"]}
    assert len(rows) == 4 and all(r["tokens_read"] == r["length"] for r in rows.values())
    stored = {key: row["stored_bytes_per_token"] * key[1] for key, row in rows.items()}
    assert stored["focus", 1240] > 1.8 * stored["focus", 600]  # every chunk's cache is kept for decoding
    assert stored["focus-bounded", 1240] < stored["focus", 600] / 4  # only the candidates
