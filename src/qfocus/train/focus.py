"""`qfocus train-focus`: train FocusLLM's candidate projections (DESIGN.md §11) on long text.

Each step draws one sample from the training documents (QMSum transcripts, SQuALITY stories, ...)
and one of the reference's two tasks, half and half:

- continuation: the local span comes right after the last chunk; the chunks hold the text before it;
- repetition: the local span repeats a stretch of the text; the chunks hold all of it.

The chunk stride is drawn from `--chunks` each step, the span length from [--min-local, --local].
Each chunk is followed by the span's last min(512, stride, span) tokens, the last its candidate;
the span reads every candidate and the loss is the next-token cross-entropy over the span (the
reference scores only the span's last position; every position gives more signal per forward).
Only the candidate q/k/v/o projections train; gradients reach them through the candidates' keys and
values. Every draw comes from a generator seeded by (seed, step), so `--resume` continues exactly.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from qfocus.errors import InputError
from qfocus.train.config import FocusTrainConfig


@dataclass(frozen=True)
class Sample:
    """One training sample: the chunks, the span read as local context, and the span's targets."""

    task: str  # continuation or repetition
    chunks: list[list[int]]
    span: list[int]
    targets: list[int]  # the next token after each span position (len(span) of them)


def draw(texts: list[list[int]], config: FocusTrainConfig, step: int) -> Sample:
    """Step `step`'s sample: every draw from a generator seeded by (seed, step)."""
    g = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    pick = lambda n: int(torch.randint(n, (1,), generator=g))  # noqa: E731
    text = texts[pick(len(texts))]
    start = pick(len(text) - config.max_tokens + 1) if len(text) > config.max_tokens else 0
    ids = text[start:start + config.max_tokens]
    stride = config.chunks[pick(len(config.chunks))]
    size = config.min_local + pick(config.local - config.min_local + 1)
    if pick(2) == 0:  # continuation: the span follows the chunks
        first = stride + pick(len(ids) - size - stride)  # at least one whole chunk before the span
        head, span, after = ids[:first], ids[first:first + size], ids[first + size:first + size + 1]
        task = "continuation"
    else:  # repetition: the span is somewhere in the chunks' text
        first = pick(len(ids) - size)
        head, span, after = ids, ids[first:first + size], ids[first + size:first + size + 1]
        task = "repetition"
    chunks = [head[i:i + stride] for i in range(0, len(head), stride)]
    targets = span[1:] + (after or [-100])
    return Sample(task, chunks, span, targets)


def focus_loss(model, handle, sample: Sample, config: FocusTrainConfig) -> torch.Tensor:
    from qfocus.focus import local_logits, read_chunks

    tail = sample.span[-min(config.prompt, len(sample.chunks[0]), len(sample.span)):]  # min(512, stride, span)
    state = read_chunks(model, handle.context, sample.chunks, tail, config.batch)
    logits = local_logits(model, handle.context, state, sample.span, every=True)[0]  # (T, V)
    targets = torch.tensor(sample.targets, device=logits.device)
    return torch.nn.functional.cross_entropy(logits.float(), targets, ignore_index=-100)


def documents(config: FocusTrainConfig, tokenizer) -> list[list[int]]:
    """The distinct documents of the split(s), tokenised; those shorter than two chunks and a span
    are left out."""
    from qfocus.data import load_dataset

    seen, texts = set(), []
    for name in config.data.split("+"):
        for example in load_dataset(name, config.split):
            if example.document in seen:
                continue
            seen.add(example.document)
            ids = tokenizer(example.document, add_special_tokens=False)["input_ids"]
            if len(ids) >= config.local + 2 * max(config.chunks) + 1:
                texts.append(ids)
    if not texts:
        raise InputError(f"{config.data} {config.split} has no document long enough for --local {config.local} "
                         f"and two chunks of {max(config.chunks)}")
    return texts


def train_focus(config: FocusTrainConfig, on_start=None, on_step=None, on_convert=None, texts=None) -> dict:
    """Train as `config` says; returns (and writes to OUT/summary.json) the run's summary."""
    from accelerate import Accelerator
    from transformers import get_cosine_schedule_with_warmup

    from qfocus.focus import attach_focus
    from qfocus.models import load_model
    from qfocus.train.checkpoint import load_checkpoint, save_checkpoint
    from qfocus.train.loop import CONFIG_FILE, LOG_FILE, SUMMARY_FILE, _check_run_folder, _finite, _truncate_log

    out = Path(config.out)
    resume_from = _check_run_folder(config, out)  # the same folder rules as `qfocus train`
    accelerator = Accelerator(mixed_precision="bf16" if torch.cuda.is_available() else "no")
    lm = load_model(config.model, dtype=torch.float32, device="cpu", on_convert=on_convert, decode_weights="full")
    texts = texts if texts is not None else documents(config, lm.tokenizer)
    handle = attach_focus(lm.model)
    for name, parameter in lm.model.named_parameters():
        parameter.requires_grad_(".candidate." in name)
    model = lm.model.train()
    params = list(handle.candidate_parameters().values())
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=(0.9, 0.95), weight_decay=0.0)
    model, optimizer = accelerator.prepare(model, optimizer)
    scheduler = get_cosine_schedule_with_warmup(optimizer, round(config.steps * config.warmup_ratio), config.steps)
    step = 0
    if resume_from is not None:  # every draw is seeded by (seed, step): the step is all the state there is
        step, _ = load_checkpoint(accelerator, resume_from, handle, optimizer, scheduler)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    _truncate_log(out / LOG_FILE, step)
    if on_start is not None:
        on_start(step, config.steps)
    started_at, first, seconds, tokens = time.perf_counter(), step, [], 0
    while step < config.steps:
        t0 = time.perf_counter()
        sample = draw(texts, config, step)
        with accelerator.autocast():
            loss = focus_loss(model, handle, sample, config)
        accelerator.backward(loss)
        norm = accelerator.clip_grad_norm_(params, config.max_grad_norm) if config.max_grad_norm > 0 else None
        finite = _finite(accelerator, loss, norm)
        lr = scheduler.get_last_lr()[0]
        if finite:
            optimizer.step()
        optimizer.zero_grad()
        scheduler.step()
        step += 1
        read = sum(len(c) for c in sample.chunks) + len(sample.span)
        tokens += read
        seconds.append(time.perf_counter() - t0)
        record = {"step": step, "task": sample.task, "loss": round(float(loss.detach()), 6), "lr": lr,
                  "grad_norm": None if norm is None else round(float(norm), 6), "chunks": len(sample.chunks),
                  "stride": len(sample.chunks[0]), "span": len(sample.span), "tokens": read,
                  "seconds": round(seconds[-1], 3)}
        if not finite:
            record["skipped"] = True
        with (out / LOG_FILE).open("a") as log:
            log.write(json.dumps(record) + "\n")
        if on_step is not None:
            on_step(record, config.steps)
        if step % config.save_every == 0 or step == config.steps:
            save_checkpoint(accelerator, out, step, handle, optimizer, scheduler, config.keep_checkpoints)
    elapsed = time.perf_counter() - started_at
    handle.save(out)
    summary = {"steps": step, "steps_this_process": step - first, "seconds": round(elapsed, 2),
               "seconds_per_step": round(elapsed / (step - first), 3) if step > first else None,
               "median_step_seconds": round(statistics.median(seconds), 3) if seconds else None,
               "tokens_per_s": round(tokens / elapsed, 1) if step > first else None, "documents": len(texts),
               "parameters": handle.parameter_counts(), "device": str(accelerator.device)}
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    handle.detach()
    return summary

