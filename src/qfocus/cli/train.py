"""`qfocus train`: fit an adapter on a dataset split, resumable, on CPU, one GPU or many."""

from __future__ import annotations

import argparse

from qfocus.cli.args import add_config_arguments, build_config

DESCRIPTION = """\
Train an adapter on (query, document, summary) triples of QMSum, SQuALITY or CovidET: the
Query-aware HyperExpert (ideal-lora, ideal-prompt, ideal-padapter) or a static baseline (lora,
prompt, padapter). Only the adapter learns; the base model is frozen and never saved. The loss is
on the summary tokens. AdamW (0.9, 0.95), linear warm-up then cosine decay.

Writes into --out: the adapter (use it with `qfocus eval --adapter OUT` or `qfocus summarize
--adapter OUT`), log.jsonl (one line per optimisation step: loss, lr, grad_norm, tokens/s),
checkpoints/ (adapter + optimiser + scheduler + RNG; --resume continues from the newest one after
a crash or kill, without repeating or skipping a step) and summary.json (time per step and epoch).

Runs on accelerate: the same command trains on CPU (fp32), on one GPU (bf16) and on several GPUs
or machines with `accelerate launch -m qfocus train ...`.

--memory adds Query-focused Infini-attention (the full IDEAL method): every example is read in
segments of --segment tokens, forward and backward one segment at a time with the memory detached
between segments, so activations never exceed one segment. The memory gates learn with the adapter
at --gate-lr (default 1e-2, no weight decay) and are saved in it; log.jsonl shows where they stand
(gate_mean/min/max of sigmoid(beta)). Use the result with `--strategy ideal`.
"""

EXAMPLES = """\
examples:
  # a first run on 64 CovidET triples (minutes on a laptop CPU), then score it
  qfocus train --data covidet --data-dir ../shared/data/covidet --method ideal-lora --max-steps 30 --limit 64 --out runs/covidet-ideal
  qfocus eval --data covidet --split val --adapter runs/covidet-ideal --limit 20 --out runs/covidet-ideal-eval

  # the static LoRA baseline at the same budget
  qfocus train --data covidet --method lora --max-steps 30 --limit 64 --out runs/covidet-lora

  # QMSum at the reference input length; continue after an interruption
  qfocus train --data qmsum --max-input-tokens 1600 --epochs 10 --batch-size 4 --grad-accum 8 --out runs/qmsum
  qfocus train --data qmsum --max-input-tokens 1600 --epochs 10 --batch-size 4 --grad-accum 8 --out runs/qmsum --resume

  # several GPUs: the same command under accelerate (on CPUs: torchrun --nproc_per_node 2 -m qfocus train ...)
  accelerate launch --multi_gpu -m qfocus train --data squality --method ideal-lora --epochs 10 --out runs/squality

  # IDEAL with memory (HyperExpert + gates), then read whole meetings in 512-token segments
  qfocus train --data qmsum-gold --method ideal-lora --memory --segment 512 --max-steps 32 --limit 128 --out runs/qmsum-ideal-memory
  qfocus eval --data qmsum --split val --strategy ideal --adapter runs/qmsum-ideal-memory --limit 24 --out runs/ideal-eval

  qfocus train --config train.yaml        # keys: data, ..., hyper: {method, rank, memory, segment, ...}
"""


def add_parser(subparsers) -> None:
    from qfocus.train import TrainConfig

    parser = subparsers.add_parser("train", help="train a HyperExpert or baseline adapter on a dataset",
                                   description=DESCRIPTION, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="YAML", help="read options from a YAML file (flags win)")
    add_config_arguments(parser, TrainConfig, "what to train and how")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from qfocus.cli.status import conversion_notice
    from qfocus.train import TrainConfig, train

    config: TrainConfig = build_config(TrainConfig, args, args.config)
    console = Console(stderr=True)
    progress = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                        TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[speed]} tok/s"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True)
    status = console.status(f"loading {config.model} and {config.data} ...")
    task = None

    def on_start(step: int, total: int) -> None:
        nonlocal task
        status.stop()
        if step:
            console.print(f"resuming at step {step} of {total}")
        progress.start()
        task = progress.add_task("train", total=total, completed=step, loss="-", speed="-")

    def on_step(record: dict, total: int) -> None:
        progress.update(task, completed=record["step"], loss=f"{record['loss']:.3f}",
                        speed=f"{record['tokens_per_s']:.0f}")

    status.start()
    try:
        summary = train(config, on_start=on_start, on_step=on_step, on_convert=conversion_notice(console))
    finally:
        status.stop()
        progress.stop()
    from accelerate import PartialState

    if not PartialState().is_main_process:  # under `accelerate launch` / torchrun: one report, not one per process
        return 0
    console.print(f"{summary['steps']} steps ({summary['epochs']} epochs of {summary['triples']} triples) -> {config.out}")
    print(f"final_loss {summary['final_loss']} seconds_per_step {summary['seconds_per_step']} "
          f"seconds_per_epoch {summary['seconds_per_epoch']}")
    return 0
