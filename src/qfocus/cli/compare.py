"""`qfocus compare`: strategies side by side on the same examples, with paired bootstrap intervals."""

from __future__ import annotations

import argparse

from qfocus.cli.args import add_config_arguments, build_config

DESCRIPTION = """\
Run several strategies on the same examples of a dataset split with one model load (per adapter), score each as
`qfocus eval` does (OUT/<spec>/predictions.jsonl and metrics.json), and write one table:
OUT/comparison.md (+ .json, .png) with ROUGE-1/2/Lsum, their geometric mean, seconds per example,
peak RSS, and for every strategy its difference from the baseline in geometric mean and ROUGE-Lsum
with a paired bootstrap 95% interval (1,000 resamples over examples, seeded). An interval that
contains 0 means the data cannot tell the two apart.

--limit N takes N examples spread over the whole split (every k-th), not the first N. A strategy
spec may carry settings after colons: retrieve:scorer=bm25:coverage=0.5. Every option of
`qfocus eval` applies to all strategies (e.g. --context-window, --adapter); a spec may name its own
adapter: truncate:adapter=none is zero-shot beside the shipped default (truncate).

A long comparison that stops (a closed laptop, a session's time limit) continues where it stopped when
run again with the same options and --resume: every strategy keeps the answers it has written.
"""

EXAMPLES = """\
examples:
  qfocus compare --data qmsum --split val --strategies truncate,retrieve,mapreduce --limit 60 --context-window 2048 --out runs/cmp
  qfocus compare --data qmsum --strategies truncate,retrieve:scorer=bm25,retrieve:mugi=true --baseline truncate --out runs/cmp-bm25
  qfocus compare --data qmsum-gold --adapter runs/qmsum-ideal-lora --strategies truncate,retrieve --limit 120 --out runs/cmp-he
  qfocus compare --data squality --context-window 2048 --strategies truncate,truncate:adapter=none --out runs/cmp-shipped
  qfocus compare --data qmsum --strategies truncate,refine --limit 120 --out runs/cmp-refine --resume   # again after a stop
"""


def add_parser(subparsers) -> None:
    from qfocus.evaluation.compare import CompareConfig

    parser = subparsers.add_parser("compare", help="strategies on the same examples: table with 95%% intervals",
                                   description=DESCRIPTION, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="YAML", help="read options from a YAML file (flags win)")
    add_config_arguments(parser, CompareConfig, "what to compare")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from qfocus.cli.status import conversion_notice
    from qfocus.errors import InputError
    from qfocus.evaluation.compare import CompareConfig, compare

    if args.strategy is not None:
        raise InputError("compare takes --strategies (a comma-separated list), not --strategy")
    config: CompareConfig = build_config(CompareConfig, args, args.config)
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        tasks: dict[str, int] = {}

        def on_example(spec: str, done: int, total: int) -> None:
            if spec not in tasks:
                tasks[spec] = progress.add_task(spec, total=total)
            progress.update(tasks[spec], completed=done, total=total)

        result = compare(config, on_example, on_convert=conversion_notice(console))
    print(result["table"])
    console.print(f"n = {result['examples']}; tables and runs -> {config.eval.out}")
    return 0
