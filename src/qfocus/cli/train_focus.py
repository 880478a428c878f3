"""`qfocus train-focus`: train FocusLLM's candidate projections (`--strategy focus --focus-weights OUT`)."""

from __future__ import annotations

import argparse

from qfocus.cli.args import add_config_arguments, build_config
from qfocus.train.config import FocusTrainConfig

DESCRIPTION = """\
Train the candidate token's q/k/v/o projections of FocusLLM (`--strategy focus`) on the long
documents of a dataset's split, the base model frozen. Each step draws one stretch of a document
and one of the reference's two tasks: continuation (the local span follows the chunks) or
repetition (the span repeats a stretch the chunks hold); the loss is next-token cross-entropy over
the span, reading every chunk's candidate. Checkpoints every --save-every steps; --resume continues
exactly. Writes OUT/focus.safetensors for `qfocus summarize --strategy focus --focus-weights OUT`.
"""

EXAMPLES = """\
examples:
  qfocus train-focus --steps 200 --out runs/focus
  qfocus train-focus --steps 400 --out runs/focus --resume          # continue (same options)
  qfocus summarize meeting.md -q "..." --strategy focus --focus-weights runs/focus --adapter none
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train-focus", help="train FocusLLM's candidate projections (--strategy focus)",
                                   description=DESCRIPTION, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="YAML", help="read options from a YAML file (flags win)")
    add_config_arguments(parser, FocusTrainConfig, "what to train and how")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from qfocus.cli.status import conversion_notice
    from qfocus.train.focus import train_focus

    config: FocusTrainConfig = build_config(FocusTrainConfig, args, args.config)
    console = Console(stderr=True)
    progress = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                        TextColumn("{task.fields[task_name]} loss {task.fields[loss]}"), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=console, transient=True)
    task = None

    def on_start(step: int, total: int) -> None:
        nonlocal task
        if step:
            console.print(f"resuming at step {step} of {total}")
        progress.start()
        task = progress.add_task("train", total=total, completed=step, loss="-", task_name="")

    def on_step(record: dict, total: int) -> None:
        progress.update(task, completed=record["step"], loss=f"{record['loss']:.3f}", task_name=record["task"])

    console.print(f"loading {config.model} and the {config.data} documents ...")
    try:
        summary = train_focus(config, on_start=on_start, on_step=on_step, on_convert=conversion_notice(console))
    finally:
        progress.stop()
    console.print(f"{summary['steps']} steps on {summary['documents']} documents -> {config.out}")
    print(f"seconds_per_step {summary['seconds_per_step']} tokens_per_s {summary['tokens_per_s']}")
    return 0
