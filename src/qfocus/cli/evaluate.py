"""`qfocus eval`: summaries for a dataset split, scored with ROUGE."""

from __future__ import annotations

import argparse

from qfocus.cli.args import add_config_arguments, build_config

DESCRIPTION = """\
Generate a summary for every example of a dataset split (or the first --limit of them) with any
strategy, zero-shot or with a trained adapter (--adapter), and score it: ROUGE-1, ROUGE-2 and
ROUGE-Lsum F1 x100 with stemming over pysbd-split sentences, the best reference for multi-reference
data, and their geometric mean. Writes OUT/predictions.jsonl and OUT/metrics.json.
"""

EXAMPLES = """\
examples:
  qfocus eval --data covidet --split val --limit 20 --out runs/covidet-zero-shot
  qfocus eval --data covidet --split val --adapter runs/covidet-ideal --limit 20 --out runs/covidet-ideal-eval
  qfocus eval --data qmsum --data-dir /data/qmsum --context-window 4096 --out runs/qmsum-4k
  qfocus eval --data qmsum --strategy refine --out runs/qmsum-refine --resume   # continue a stopped run
  qfocus eval --config eval.yaml          # keys: data, split, ..., summarize: {model, strategy, generation: {...}}
"""


def add_parser(subparsers) -> None:
    from qfocus.evaluation.run import EvalConfig

    parser = subparsers.add_parser("eval", help="generate for a dataset split and score with ROUGE",
                                   description=DESCRIPTION, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="YAML", help="read options from a YAML file (flags win)")
    add_config_arguments(parser, EvalConfig, "what to evaluate")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from qfocus.cli.status import conversion_notice
    from qfocus.evaluation.run import EvalConfig, evaluate

    config: EvalConfig = build_config(EvalConfig, args, args.config)
    console = Console(stderr=True)
    with Progress(TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("eval", total=None)
        metrics = evaluate(config, lambda done, total: progress.update(task, completed=done, total=total),
                           on_convert=conversion_notice(console))
    console.print(f"{metrics['examples']} examples -> {config.out}")
    print(" ".join(f"{k} {metrics[k]}" for k in ("rouge1", "rouge2", "rougeLsum", "geometric_mean",
                                                  "mean_prompt_tokens", "seconds_per_example")))
    return 0
