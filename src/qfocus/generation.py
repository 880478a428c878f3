"""Decoding an answer from a prompt, with the model's own attention or through compressive memory.

`generate`: the prompt (all but its last token) is read in chunks of `prefill_chunk` tokens into a
KV cache, computing logits for no position (`logits_to_keep=1` keeps one row, never a (T, vocab)
tensor), and reporting progress after each chunk. Greedy decoding then takes one forward per token
in our `decode` loop, on a cache with room reserved for the answer (`models.kv_cache`: no copy of
the cache per token); sampling continues from the cache in `model.generate`. Both use transformers'
own logits processors (repetition penalty on the answer only, temperature, top-p), stop tokens and
streamer. `generate_batch` does the same for left-padded batches.

`generate_with_memory`: the prompt is read segment by segment into memory (`qfocus.memory`), then
each new token is one more step of the same segment loop. There is no KV cache for `generate` to
continue, so the loop is ours, but the pieces are transformers' own: the same logits processors
(repetition penalty on the answer only, temperature, top-p) and the same streamer.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from transformers import (
    DynamicCache,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TextStreamer,
    TopPLogitsWarper,
)

from qfocus.config import GenerationConfig
from qfocus.models import LoadedModel
from qfocus.models.kv_cache import reserved_cache, with_cache


@dataclass
class Callbacks:
    """Hooks a caller may pass to watch long work; all optional."""

    on_token: Callable[[str], None] | None = None  # a piece of answer text as soon as it is final
    on_progress: Callable[[str, int, int], None] | None = None  # (stage, done, total)
    on_step: Callable[[int, int, float], None] | None = None  # training at question time (lift): (step, steps, loss)


@dataclass
class Generated:
    text: str
    new_tokens: int


class _CallbackStreamer(TextStreamer):
    """TextStreamer that hands each finished piece of text to a callback instead of printing it."""

    def __init__(self, tokenizer, on_text: Callable[[str], None]):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self._on_text = on_text

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self._on_text(text)


@torch.inference_mode()
def prefill(lm: LoadedModel, ids: torch.Tensor, chunk: int, on_progress=None, first: int | None = None,
            attention: torch.Tensor | None = None, cache: DynamicCache | None = None) -> DynamicCache:
    """Run `ids` (B, T) through the model in chunks (the first one `first` tokens long) into `cache`
    (default: a new `DynamicCache`); return the cache.

    `attention` (B, T) marks real tokens when rows are left-padded: each row's positions then count
    from its own first token, as `generate` counts them when it continues from this cache.
    """
    cache = DynamicCache(config=lm.model.config) if cache is None else cache
    total = ids.shape[1]
    positions = None if attention is None else (attention.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)
    bounds = [0, *range(max(first or chunk, 1), total, chunk), total]
    for start, end in zip(bounds, bounds[1:]):
        padded = {} if attention is None else {"attention_mask": attention[:, :end], "position_ids": positions[:, start:end]}
        lm.model(input_ids=ids[:, start:end], use_cache=True, logits_to_keep=1, **with_cache(cache), **padded)
        if on_progress is not None:
            on_progress("reading prompt", end, total)
    return cache


def generate(lm: LoadedModel, input_ids: list[int], config: GenerationConfig, callbacks: Callbacks | None = None,
             query_mask: list[bool] | None = None) -> Generated:
    """Decode an answer to the prompt `input_ids`, streaming text to `callbacks.on_token`.

    With a HyperExpert attached (`lm.expert`), `query_mask` marks the query tokens: the first prefill
    chunk covers them, and the parameters generated from them serve the whole answer.
    """
    callbacks = callbacks or Callbacks()
    if lm.expert is None:
        return _generate(lm, input_ids, config, callbacks)
    if not query_mask or not any(query_mask):
        raise ValueError("a model with an adapter needs the prompt's query_mask")
    # the first prefill call holds the whole query, and is no longer than the prefill itself (T - 1)
    first = min(max(config.prefill_chunk, max(i for i, q in enumerate(query_mask) if q) + 1), len(input_ids) - 1)
    mask = torch.tensor([query_mask[:first]], device=lm.device)  # (1, first chunk)
    with lm.expert.query(mask):
        return _generate(lm, input_ids, config, callbacks, first)


@torch.inference_mode()
def _generate(lm: LoadedModel, input_ids: list[int], config: GenerationConfig, callbacks: Callbacks,
              first: int | None = None) -> Generated:
    ids = torch.tensor([input_ids], dtype=torch.long, device=lm.device)  # (1, T)
    if config.temperature == 0:
        return _greedy(lm, ids, None, config, callbacks, first)[0]
    return _sample(lm, ids, None, config, callbacks, first)[0]


def _sample(lm: LoadedModel, ids: torch.Tensor, attention: torch.Tensor | None, config: GenerationConfig,
            callbacks: Callbacks, first: int | None = None) -> list[Generated]:
    """Sampled answers to the prompts `ids` (B, T), left-padded where `attention` (B, T) is given: the
    prompt but its last token is read in chunks, then `model.generate` continues from the cache."""
    cache = prefill(lm, ids[:, :-1], config.prefill_chunk, callbacks.on_progress, first,
                    None if attention is None else attention[:, :-1])
    torch.manual_seed(config.seed)
    streamer = _CallbackStreamer(lm.tokenizer, callbacks.on_token) if callbacks.on_token else None
    out = lm.model.generate(
        ids,
        attention_mask=torch.ones_like(ids) if attention is None else attention,
        **with_cache(cache),
        max_new_tokens=config.max_new_tokens,
        do_sample=True,
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=None,
        # Penalise repeats within the answer only: a penalty on the prompt's tokens would push the
        # model away from the very words of the document it should be using.
        logits_processor=LogitsProcessorList(
            [RepetitionPenaltyLogitsProcessor(config.repetition_penalty, prompt_ignore_length=ids.shape[1])]
        ),
        pad_token_id=lm.tokenizer.pad_token_id,
        eos_token_id=sorted(_stop_ids(lm)),
        streamer=streamer,
    )
    return _answers(lm, out[:, ids.shape[1]:])


def _greedy(lm: LoadedModel, ids: torch.Tensor, attention: torch.Tensor | None, config: GenerationConfig,
            callbacks: Callbacks, first: int | None = None) -> list[Generated]:
    """Greedy answers to the prompts `ids` (B, T), left-padded where `attention` (B, T) is given: the
    prompt but its last token is read in chunks into a cache with room for the answer
    (`models.kv_cache`: no copy of the cache per token), then `decode` takes one forward per token,
    with the same repetition penalty, stop tokens and streamer as `generate`."""
    batch, width = ids.shape
    room = reserved_cache(lm.model, width + config.max_new_tokens)
    cache = prefill(lm, ids[:, :-1], config.prefill_chunk, callbacks.on_progress, first,
                    None if attention is None else attention[:, :-1], room)
    mask = attention  # (B, n): the tokens each step may attend to, the new one included
    position = None if attention is None else attention.long().sum(-1, keepdim=True) - 1  # (B, 1)

    def forward(tokens: torch.Tensor) -> torch.Tensor:  # (B, 1) -> (B, V)
        nonlocal mask, position
        padded = {} if mask is None else {"attention_mask": mask, "position_ids": position}
        logits = lm.model(input_ids=tokens, use_cache=True, **with_cache(cache), **padded).logits[:, -1]
        if mask is not None:
            mask, position = torch.cat([mask, mask.new_ones(batch, 1)], 1), position + 1
        return logits

    return decode(lm, forward(ids[:, -1:]), forward, config, callbacks, prompt=ids if batch == 1 else None)


def _answers(lm: LoadedModel, new: torch.Tensor) -> list[Generated]:
    """Answers from `generate`'s new tokens (B, n): each row ends before its first stop token."""
    stop, answers = _stop_ids(lm), []
    for row in new.tolist():
        row = next((row[:i] for i, token in enumerate(row) if token in stop), row)
        answers.append(Generated(lm.tokenizer.decode(row, skip_special_tokens=True).strip(), len(row)))
    return answers


@torch.inference_mode()
def generate_batch(lm: LoadedModel, prompts: list[list[int]], config: GenerationConfig,
                   query_masks: list[list[bool]] | None = None) -> list[Generated]:
    """Decode answers to several prompts in one `generate` call (left padding), e.g. a batch of evaluation
    queries, mapreduce's chunks or MuGI's samples. The batch is read in `prefill_chunk` pieces like one
    prompt is, so memory grows with the batch's KV cache, not with a (B, T, T) mask. Greedy answers
    equal those of `generate` one prompt at a time (tested) in float32; where activations are rounded
    to bf16 (a bf16 model, or 4-bit packed projections) a near-tie may go the other way."""
    if not prompts:
        return []
    width = max(len(p) for p in prompts)
    pad = lm.tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts], device=lm.device)  # (B, T)
    attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=lm.device)
    context, first = nullcontext(), None
    if lm.expert is not None:
        if query_masks is None:
            raise ValueError("a model with an adapter needs each prompt's query_mask")
        masks = torch.tensor([[False] * (width - len(m)) + list(m) for m in query_masks], device=lm.device)
        # as in `generate`: the first prefill call holds every row's whole query
        first = min(max(config.prefill_chunk, int(masks.nonzero()[:, 1].max()) + 1), width - 1)
        context = lm.expert.query(masks[:, :first])
    decoding = _greedy if config.temperature == 0 else _sample
    with context:
        return decoding(lm, ids, attention, config, Callbacks(), first)


def generate_with_memory(lm: LoadedModel, memory, input_ids: list[int], query_mask: list[bool], segment: int,
                         config: GenerationConfig, callbacks: Callbacks | None = None) -> Generated:
    """Decode an answer to a prompt of any length through segment-recurrent memory.

    `memory` is the `MemoryHandle` of `qfocus.memory.segments.attach_memory` (or `lm.expert.memory`);
    the query (`query_mask`) must lie in the first `segment` tokens. Peak memory is one segment's
    activations and the memory state, whatever the prompt's length.
    """
    from qfocus.memory.segments import read

    callbacks = callbacks or Callbacks()
    ids = torch.tensor([input_ids], dtype=torch.long, device=lm.device)  # (1, T): ids are all that grows
    mask = torch.tensor([query_mask], dtype=torch.bool, device=lm.device)
    total = ids.shape[1]
    on_segment = None
    if callbacks.on_progress is not None:
        on_segment = lambda done: callbacks.on_progress("reading prompt", done, total)  # noqa: E731
    with torch.inference_mode(), _query_context(lm, mask[:, :min(segment, total)]):
        logits, state = read(lm.model, memory, ids, mask, segment, on_segment=on_segment)

        def step(token: torch.Tensor) -> torch.Tensor:
            nonlocal state
            out, state = read(lm.model, memory, token, None, segment, state)
            return out[:, -1]

        answers = decode(lm, logits[:, -1], step, config, callbacks, prompt=ids)
    return answers[0]


def generate_with_blocks(lm: LoadedModel, handle, prompts: list[list[int]], query_masks: list[list[bool]],
                         config: GenerationConfig, callbacks: Callbacks | None = None) -> list[Generated]:
    """Decode answers to prompts of any length through KV-block attention (`qfocus.blocks`), all
    rows of the batch at once (right-padded; each row attends on its own, so the answers equal those
    of one prompt at a time). `callbacks` stream tokens of a single prompt only."""
    from qfocus.blocks.read import execution_bounds, question_ends, read

    callbacks = callbacks or Callbacks()
    width, pad = max(len(p) for p in prompts), lm.tokenizer.pad_token_id or 0
    ids = torch.tensor([list(p) + [pad] * (width - len(p)) for p in prompts], device=lm.device)  # (B, T)
    mask = torch.tensor([list(m) + [False] * (width - len(m)) for m in query_masks], device=lm.device)
    lengths = [len(p) for p in prompts]
    on_block = None
    if callbacks.on_progress is not None:
        on_block = lambda done: callbacks.on_progress("reading prompt", min(done, width), width)  # noqa: E731
    # the HyperExpert reads the query in the first forward: every row's first execution block
    first = max(execution_bounds(n, end, handle.config.exec_block)[1]
                for n, end in zip(lengths, question_ends(mask, len(prompts))))
    with torch.inference_mode(), _query_context(lm, mask[:, :first]):
        logits, state = read(lm.model, handle, ids, lengths, mask, on_block=on_block)

        def step(token: torch.Tensor) -> torch.Tensor:
            nonlocal state
            out, state = read(lm.model, handle, token, None, None, state)
            return out

        return decode(lm, logits, step, config, callbacks if len(prompts) == 1 else Callbacks(),
                      prompt=ids if len(prompts) == 1 else None)


def generate_with_focus(lm: LoadedModel, handle, input_ids: list[int], local: int, chunk: int, prompt: int,
                        batch: int, config: GenerationConfig, callbacks: Callbacks | None = None,
                        decode_mode: str = "cached") -> Generated:
    """Decode an answer to a prompt of any length by FocusLLM's parallel decoding (`qfocus.focus`):
    chunks of `chunk` tokens, each followed by the last `prompt` local tokens and a candidate, read
    `batch` at a time; the last `local` tokens read every candidate. Each new token:
    cached  joins every chunk's prompt (one cached step per chunk, every chunk's cache kept) and the
            local context is read again (the reference);
    reread  the same answer with only the candidates kept: every chunk is read again with it;
    frozen  the prompt's candidates stay; the local context goes on from its own KV cache."""
    from qfocus.focus import candidate_cache, local_logits, read_chunks, split, step_chunks

    callbacks = callbacks or Callbacks()
    chunks, tail, context = split(input_ids, local, chunk, prompt)
    on_chunk = None
    if callbacks.on_progress is not None:
        on_chunk = lambda done, total: callbacks.on_progress("reading chunks", done, total)  # noqa: E731
    model, focus = lm.model, handle.context
    with torch.inference_mode():
        state = read_chunks(model, focus, chunks, tail, batch, on_chunk, keep=decode_mode == "cached")
        answer: list[int] = []
        if decode_mode == "frozen":
            cache, at = candidate_cache(model, state), state.chunks

            def forward(ids: list[int]) -> torch.Tensor:  # the unwrapped model on the local cache
                nonlocal at
                positions = torch.arange(at, at + len(ids), device=lm.device)[None]
                at += len(ids)
                return model(input_ids=torch.tensor([ids], device=lm.device), position_ids=positions,
                             use_cache=True, logits_to_keep=1, **with_cache(cache)).logits[:, -1]

            logits = forward(context)
        else:
            logits = local_logits(model, focus, state, context)

        def step(token: torch.Tensor) -> torch.Tensor:
            nonlocal state
            answer.append(int(token[0, 0]))
            if decode_mode == "frozen":
                return forward(answer[-1:])
            if decode_mode == "reread":
                state = read_chunks(model, focus, chunks, tail + answer, batch, keep=False)
            else:
                state = step_chunks(model, focus, state, answer[-1])
            return local_logits(model, focus, state, context + answer)

        return decode(lm, logits, step, config, callbacks, prompt=torch.tensor([input_ids]))[0]


def _query_context(lm: LoadedModel, query_mask: torch.Tensor):
    """The HyperExpert's query context for a recurrent read whose first forward holds the query."""
    if lm.expert is not None and lm.expert.config.is_hyper:
        return lm.expert.query(query_mask)
    return nullcontext()


def decode(lm: LoadedModel, logits: torch.Tensor, step: Callable[[torch.Tensor], torch.Tensor],
           config: GenerationConfig, callbacks: Callbacks, prompt: torch.Tensor | None = None) -> list[Generated]:
    """Our own decode loop for readers that keep no KV cache `generate` could continue: `logits`
    (B, V) follow the prompt, `step(tokens (B, 1))` returns the next (B, V). transformers' own
    logits processors (repetition penalty on the answer only, temperature, top-p) and streamer."""
    sampling = config.temperature > 0
    processors = LogitsProcessorList([RepetitionPenaltyLogitsProcessor(config.repetition_penalty)])
    if sampling:
        processors += [TemperatureLogitsWarper(config.temperature), TopPLogitsWarper(config.top_p)]
    generator = torch.Generator(device=lm.device).manual_seed(config.seed) if sampling else None
    streamer = _CallbackStreamer(lm.tokenizer, callbacks.on_token) if callbacks.on_token else None
    if streamer is not None:
        streamer.put(prompt.cpu())  # skipped by the streamer
    stop, batch = _stop_ids(lm), logits.shape[0]
    answer = torch.zeros(batch, 0, dtype=torch.long, device=logits.device)  # (B, n): what the penalty sees
    new, done = [[] for _ in range(batch)], [False] * batch
    for index in range(config.max_new_tokens):
        scores = processors(answer, logits.float())  # (B, V)
        if sampling:
            token = torch.multinomial(scores.softmax(-1), 1, generator=generator)  # (B, 1)
        else:
            token = scores.argmax(-1, keepdim=True)
        for row, value in enumerate(token[:, 0].tolist()):
            if not done[row]:
                done[row] = value in stop
                if not done[row]:
                    new[row].append(value)
        if all(done):
            break
        answer = torch.cat([answer, token], 1)
        if streamer is not None:
            streamer.put(token.cpu())
        if index + 1 < config.max_new_tokens:  # no step after the last token
            logits = step(token)
    if streamer is not None:
        streamer.end()
    return [Generated(lm.tokenizer.decode(row, skip_special_tokens=True).strip(), len(row)) for row in new]


# Chat-turn boundaries: an answer that opens a new turn (a fine-tuned model may write <|im_start|>
# where it should write <|im_end|>) has ended; what follows would be a made-up dialogue.
TURN_TOKENS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<start_of_turn>", "<end_of_turn>", "<|eot_id|>",
               "<|start_header_id|>", "<|end_of_text|>")


def _stop_ids(lm: LoadedModel) -> set[int]:
    """End-of-answer token ids: the generation config's (an int or a list), the tokenizer's, and the
    chat-turn boundary tokens the tokenizer has as special tokens."""
    eos = lm.model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if lm.tokenizer.eos_token_id is not None:
        ids.add(lm.tokenizer.eos_token_id)
    special = set(lm.tokenizer.all_special_tokens) | set(lm.tokenizer.get_added_vocab())
    ids.update(lm.tokenizer.convert_tokens_to_ids(token) for token in TURN_TOKENS if token in special)
    return ids
