"""`qfocus synth`: synthesise (query, document, summary) triples with a teacher model."""

from __future__ import annotations

import argparse

from qfocus.cli.args import add_config_arguments, build_config

DESCRIPTION = """\
Synthesise query-focused training triples from a dataset's train split with a local teacher model
(DESIGN §13). Strategies, all counted in the same teacher budget (--budget calls; tokens recorded):

  instructds    InstructDS: the teacher writes --queries questions that a reference summary answers
                (the longest reference of each document: its most general summary), a filter drops
                questions that are not questions, leak the summary's words, repeat another question,
                or that the teacher cannot answer from the summary; the teacher then writes each kept
                question's summary from the document (or from the summary: --summary-from anchor).
  answer-aug    a new teacher answer to each seed query.
  rephrase      each seed query reworded by the teacher, its human reference kept as the target.
  new-question  a new question about an excerpt of each document, answered from the whole document.

The output is what `qfocus train --data-file` reads. Runs append: after a kill, the same command
continues where it stopped (FILE.progress records the finished seed items and their cost);
a larger --budget extends a finished run.
"""

EXAMPLES = """\
examples:
  # 200 teacher calls of InstructDS on QMSum train, with the embedded model and its shipped adapter
  qfocus synth --data qmsum --strategy instructds --budget 200 --out runs/synth/qmsum-instructds.jsonl
  # the same budget spent on rephrased questions
  qfocus synth --data qmsum --strategy rephrase --budget 200 --out runs/synth/qmsum-rephrase.jsonl
  # train on real and synthetic triples together
  qfocus train --data qmsum --data-file runs/synth/qmsum-instructds.jsonl --max-steps 64 --out runs/qmsum-synth
  # a larger local teacher
  qfocus synth --data covidet --teacher /models/Qwen2.5-7B-Instruct --adapter none --budget 500 --out runs/synth/covidet.jsonl
"""


def add_parser(subparsers) -> None:
    from qfocus.synth import SynthConfig

    parser = subparsers.add_parser("synth", help="synthesise query-focused training triples with a teacher model",
                                   description=DESCRIPTION, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="YAML", help="read options from a YAML file (flags win)")
    add_config_arguments(parser, SynthConfig, "what to synthesise and with which teacher")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from qfocus.cli.status import conversion_notice
    from qfocus.synth import SynthConfig, synthesize

    config: SynthConfig = build_config(SynthConfig, args, args.config)
    console = Console(stderr=True)
    progress = Progress(TextColumn(f"synth {config.strategy}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("teacher calls"), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=console, transient=True)
    task = progress.add_task("synth", total=config.budget)
    with progress:
        totals = synthesize(config, on_item=lambda done, total: progress.update(task, completed=done),
                            on_convert=conversion_notice(console))
    console.print(f"{totals['triples']} triples from {totals['items']} seed items, {totals['calls']} teacher calls "
                  f"-> {config.out}")
    print(json.dumps(totals))
    return 0
