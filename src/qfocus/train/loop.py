"""`qfocus train`: fit an adapter (HyperExpert or static baseline) on (query, document, summary) triples.

Built on accelerate, so one loop serves CPU, one GPU in bf16 and `accelerate launch` on many:

    config = TrainConfig(data="covidet", hyper=HyperConfig(method="ideal-lora"), max_steps=30, out="runs/x")
    summary = train(config)          # runs/x: adapter files, log.jsonl, checkpoints/, summary.json

AdamW (0.9, 0.95) with linear warm-up then cosine decay (DESIGN §4), loss on the summary tokens only
(`qfocus.hyper.training.loss_on_batch`). Every optimisation step appends one line to log.jsonl;
every `save_every` steps an adapter-only checkpoint is written, and `resume=True` continues from the
newest one with the same data order, dropout draws and schedule as an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from qfocus.errors import InputError
from qfocus.memory.attention import GATE_NAMES
from qfocus.train.checkpoint import checkpoint_folders, load_checkpoint, restore_rng, save_checkpoint
from qfocus.train.config import TrainConfig

LOG_FILE, CONFIG_FILE, SUMMARY_FILE = "log.jsonl", "train_config.json", "summary.json"
# Options a resumed run may change: where the folder now lives (a run trained on a GPU and copied
# to a laptop resumes there), and --resume itself.
MOVABLE = ("out", "resume")

# on_start(first_step, total_steps) before the first batch; on_step(record, total_steps) after every
# optimisation step. Both run on the main process only.
StartCallback = Callable[[int, int], None]
StepCallback = Callable[[dict, int], None]


class Collate:
    """Tokenises a list of triples into a padded `Batch` (picklable for data-loader workers).

    Left padding (logits only at the summary positions) unless the model reads in segments: then
    right padding, so that every row's query sits in the first segment."""

    def __init__(self, tokenizer, max_input_tokens: int, max_summary_tokens: int, padding_side: str = "left"):
        self.tokenizer, self.max_input_tokens, self.max_summary_tokens = tokenizer, max_input_tokens, max_summary_tokens
        self.padding_side = padding_side

    def __call__(self, triples):
        from qfocus.hyper.training import make_batch

        return make_batch(self.tokenizer, triples, self.max_input_tokens, self.max_summary_tokens, self.padding_side)


def train(config: TrainConfig, on_start: StartCallback | None = None, on_step: StepCallback | None = None,
          on_convert=None) -> dict:
    """Train as `config` says; returns (and writes to OUT/summary.json) the run's summary."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs, set_seed
    from torch.utils.data import DataLoader
    from transformers import get_cosine_schedule_with_warmup

    from qfocus.hyper import attach
    from qfocus.hyper.training import loss_on_batch
    from qfocus.train.segment_loss import gate_values, segment_loss
    from qfocus.models import load_model

    out = Path(config.out)
    resume_from = _check_run_folder(config, out)
    triples = _triples(config)
    accelerator = Accelerator(
        mixed_precision=_mixed_precision(config.precision),
        gradient_accumulation_steps=config.grad_accum,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=config.seed),
        # the first segment never reads memory, so its gates get no gradient there
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=config.hyper.memory)],
    )
    set_seed(config.seed)
    lm = load_model(config.model, dtype=torch.float32, device="cpu", on_convert=on_convert, decode_weights="full")
    expert = attach(lm.model, config.hyper)
    model = lm.model.train()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(_parameter_groups(trainable, config), lr=config.peak_lr, betas=(0.9, 0.95))
    padding = "right" if config.hyper.memory else "left"
    loader = DataLoader(triples, batch_size=config.batch_size, shuffle=True,
                        collate_fn=Collate(lm.tokenizer, config.max_input_tokens, config.max_summary_tokens, padding))
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    steps_per_epoch = math.ceil(len(loader) / config.grad_accum)
    total = config.max_steps or steps_per_epoch * config.epochs
    scheduler = get_cosine_schedule_with_warmup(optimizer, round(total * config.warmup_ratio), total)

    step, pending_rng = 0, None
    if resume_from is not None:
        step, pending_rng = load_checkpoint(accelerator, resume_from, expert, optimizer, scheduler)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        _truncate_log(out / LOG_FILE, step)
    params = [p for _, p in trainable]
    started, first_step, tokens_seen, step_seconds = time.perf_counter(), step, 0, []
    window_start, window_tokens, losses = time.perf_counter(), 0, []
    epoch = step // steps_per_epoch
    if on_start is not None and accelerator.is_main_process:
        on_start(step, total)
    while step < total:
        loader.set_epoch(epoch)
        done_in_epoch = (step - epoch * steps_per_epoch) * config.grad_accum
        batches = accelerator.skip_first_batches(loader, done_in_epoch) if done_in_epoch else loader
        # Each epoch's loader iterator draws a seed from the global RNG. A checkpoint taken mid-epoch
        # holds the state after that draw, one taken at an epoch's end the state before the next.
        if pending_rng is not None and not done_in_epoch:
            pending_rng = restore_rng(pending_rng)
        for batch in batches:
            if pending_rng is not None:
                pending_rng = restore_rng(pending_rng)
            with accelerator.accumulate(model):
                if expert.memory is None:
                    loss = loss_on_batch(model, expert, batch)
                    accelerator.backward(loss)
                else:  # forward and backward one segment at a time
                    loss = segment_loss(model, expert, batch, accelerator.backward, lambda: accelerator.no_sync(model))
                grad_norm = None
                if accelerator.sync_gradients and config.max_grad_norm > 0:
                    grad_norm = accelerator.clip_grad_norm_(params, config.max_grad_norm)
                # A non-finite loss or gradient (a bf16 overflow, a batch with no summary token) would
                # poison every weight for good: that step is skipped, as a loss scaler skips it, and logged.
                finite = _finite(accelerator, loss, grad_norm) if accelerator.sync_gradients else True
                if finite:
                    optimizer.step()
                optimizer.zero_grad()
            losses.append(loss.detach())
            window_tokens += int(batch.attention_mask.sum())
            if not accelerator.sync_gradients:
                continue
            lrs = scheduler.get_last_lr()  # per param group: the first is the adapter's, the last the gates'
            if not accelerator.optimizer_step_was_skipped:
                scheduler.step()
            step += 1
            seconds = time.perf_counter() - window_start
            step_tokens = int(accelerator.reduce(torch.tensor(window_tokens, device=accelerator.device), "sum"))
            record = {
                "step": step, "epoch": round(step / steps_per_epoch, 4),
                "loss": round(float(accelerator.reduce(torch.stack(losses).mean(), "mean")), 6),
                "lr": lrs[0], "grad_norm": None if grad_norm is None else round(float(grad_norm), 6),
                "tokens": step_tokens, "tokens_per_s": round(step_tokens / max(seconds, 1e-9), 1),
                "seconds": round(seconds, 3),
            }
            if not finite:
                record["skipped"] = True  # non-finite loss or gradient: no update
            if expert.memory is not None:  # the gates' own lr (last group) and where they stand
                record.update(gate_lr=lrs[-1], **gate_values(model))
            tokens_seen += step_tokens
            step_seconds.append(seconds)
            window_start, window_tokens, losses = time.perf_counter(), 0, []
            if accelerator.is_main_process:
                with (out / LOG_FILE).open("a") as log:
                    log.write(json.dumps(record) + "\n")
                if on_step is not None:
                    on_step(record, total)
            if step % config.save_every == 0 or step == total:
                save_checkpoint(accelerator, out, step, expert, optimizer, scheduler, config.keep_checkpoints)
            if step >= total:
                break
        epoch += 1

    seconds = time.perf_counter() - started
    steps_here = step - first_step
    summary = {
        "steps": step, "steps_per_epoch": steps_per_epoch, "epochs": round(step / steps_per_epoch, 4),
        "triples": len(triples), "processes": accelerator.num_processes,
        "effective_batch": config.batch_size * config.grad_accum * accelerator.num_processes,
        "steps_this_process": steps_here, "seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / steps_here, 3) if steps_here else None,
        "median_step_seconds": round(statistics.median(step_seconds), 3) if step_seconds else None,
        "seconds_per_epoch": round(seconds / steps_here * steps_per_epoch, 1) if steps_here else None,
        "tokens_per_s": round(tokens_seen / seconds, 1) if steps_here else None,
        "final_loss": _last_loss(out / LOG_FILE) if accelerator.is_main_process else None,
        "parameters": expert.parameter_counts(), "device": str(accelerator.device),
        "mixed_precision": accelerator.mixed_precision,
    }
    if accelerator.is_main_process:
        expert.save(out)
        (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return summary


def _parameter_groups(trainable: list[tuple[str, torch.nn.Parameter]], config: TrainConfig) -> list[dict]:
    """Adapter weights, then the hypernetwork at `generator_lr_scale` × lr, vectors (biases, norms)
    without weight decay as is usual for AdamW; the memory gates at `gate_lr`, never decayed. The
    first group carries the logged lr."""
    groups = []
    is_gate = lambda name: name.rsplit(".", 1)[-1] in GATE_NAMES  # noqa: E731
    for generator in (False, True):
        lr = config.peak_lr * (config.generator_lr_scale if generator else 1.0)
        for matrix in (True, False):
            params = [p for n, p in trainable if not is_gate(n) and ("qf_hypernetwork" in n) == generator
                      and (p.ndim >= 2) == matrix]
            if params:
                groups.append({"params": params, "lr": lr, "weight_decay": config.weight_decay if matrix else 0.0})
    gates = [p for n, p in trainable if is_gate(n)]
    if gates:
        groups.append({"params": gates, "lr": config.gate_lr, "weight_decay": 0.0})
    return groups


def _check_run_folder(config: TrainConfig, out: Path) -> Path | None:
    """The checkpoint to resume from (None: start fresh); refuses to mix two runs in one folder."""
    started = (out / LOG_FILE).exists() or bool(checkpoint_folders(out))
    if not config.resume:
        if started:
            raise InputError(f"{out} already holds a training run: pass --resume to continue it, or choose another --out")
        return None
    saved = out / CONFIG_FILE
    if saved.is_file():
        before, now = json.loads(saved.read_text()), config.to_dict()
        changed = sorted(k for k in now if k not in MOVABLE and before.get(k) != json.loads(json.dumps(now[k])))
        if changed:
            raise InputError(f"{out} was trained with other settings ({', '.join(changed)}): "
                             "resume with the same options, or choose another --out")
    folders = checkpoint_folders(out)
    return folders[-1] if folders else None


def _triples(config: TrainConfig) -> list[tuple[str, str, str]]:
    from qfocus.data import load_dataset, read_triples, training_triples

    names = [] if config.data == "none" else config.data.split("+")  # qmsum+squality: each one's triples in turn
    if len(names) > 1 and config.data_dir is not None:
        raise InputError("--data-dir names one dataset's folder: train on one dataset with it, or leave it unset")
    triples = [t for name in names for t in training_triples(load_dataset(name, config.split, config.data_dir))]
    if not triples and not config.data_file:
        raise InputError(f"{config.data} {config.split} has no (query, document, summary) triples to train on")
    if config.limit is not None and config.limit < len(triples):
        triples = random.Random(config.seed).sample(triples, config.limit)
    return triples + [t for path in config.data_file for t in read_triples(path)]  # the synthetic ones, all of them


def _finite(accelerator, loss: torch.Tensor, grad_norm) -> bool:
    """Whether this optimisation step may update: the clipped gradient's norm (the same on every
    process) is finite, or without clipping the loss summed over processes is."""
    value = grad_norm if grad_norm is not None else accelerator.reduce(loss.detach().float(), "sum")
    return bool(torch.isfinite(torch.as_tensor(value)))


def _mixed_precision(precision: str) -> str | None:
    if precision != "auto":
        return precision
    if os.environ.get("ACCELERATE_MIXED_PRECISION"):  # `accelerate launch --mixed_precision ...` decides
        return None
    return "bf16" if torch.cuda.is_available() else "no"


def _truncate_log(path: Path, step: int) -> None:
    """Keep the log lines of steps 1..step: a resumed run rewrites whatever came after its checkpoint."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept))


def _last_loss(path: Path) -> float | None:
    lines = path.read_text().splitlines() if path.exists() else []
    return json.loads(lines[-1])["loss"] if lines else None
