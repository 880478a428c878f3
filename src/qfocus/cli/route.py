"""`qfocus route fit|curve`: Hybrid small/large routing."""

from __future__ import annotations

import argparse

from qfocus.cli.args import add_config_arguments, build_config

DESCRIPTION = """\
Route each query to a small or a large configuration by its predicted difficulty (Hybrid LLM,
DESIGN §13): a router predicts how much the large configuration would gain on a (query, document)
pair from what is known before answering (lengths, the spread of BM25 and dense passage scores, the
query's embedding), and a threshold set at run time picks the share of large calls.

  fit    train the router on two scored runs of the same training examples (the small and the large
         configuration's per-example ROUGE; `qfocus compare --strategies SMALL,LARGE` writes both)
  curve  the cost-quality curve on another split: quality at each share of large calls, against
         random routing at the same share, all-large (paired bootstrap interval) and an oracle

Then answer with it: `qfocus summarize FILE -q ... --strategy route --router ROUTER --route-share 0.6`.
"""

EXAMPLES = """\
examples:
  # score both configurations on 96 training queries and 272 validation queries
  qfocus compare --data qmsum --split train --limit 96 --context-window 2048 --strategies truncate,truncate:adapter=none --out runs/route/train
  qfocus compare --data qmsum --split val --context-window 2048 --strategies truncate,truncate:adapter=none --out runs/route/val
  qfocus route fit --small-run runs/route/train/truncate-adapter-none --large-run runs/route/train/truncate --out runs/route/router.json
  qfocus route curve --router runs/route/router.json --small-run runs/route/val/truncate-adapter-none --large-run runs/route/val/truncate --out runs/route/curve
  qfocus summarize meeting.md -q "What did they decide?" --strategy route --router runs/route/router.json --route-share 0.6
"""


def add_parser(subparsers) -> None:
    from qfocus.route.run import RouteCurveConfig, RouteFitConfig

    parser = subparsers.add_parser("route", help="train a small/large router and draw its cost-quality curve",
                                   description=DESCRIPTION, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True, parser_class=type(parser))
    fit = actions.add_parser("fit", help="train a router on scored pairs of a training split",
                             description="Train a router on two scored runs of the same training examples.")
    fit.add_argument("--config", metavar="YAML", help="read options from a YAML file (flags win)")
    add_config_arguments(fit, RouteFitConfig, "router training")
    fit.set_defaults(run=run_fit)
    curve = actions.add_parser("curve", help="the cost-quality curve of a router on scored pairs of another split",
                               description="Quality at each share of large calls, against random routing and all-large.")
    curve.add_argument("--config", metavar="YAML", help="read options from a YAML file (flags win)")
    add_config_arguments(curve, RouteCurveConfig, "routing curve")
    curve.set_defaults(run=run_curve)


def _progress(console, label: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("pairs"), TimeElapsedColumn(),
                    console=console, transient=True)


def _with_progress(function, config):
    """`function(config, on_pair)` under a progress bar of the pairs whose features it computes."""
    from rich.console import Console

    console = Console(stderr=True)
    with _progress(console, "features") as progress:
        task = progress.add_task("features", total=None)
        result = function(config, lambda done, total: progress.update(task, completed=done, total=total))
    return console, result


def run_fit(args: argparse.Namespace) -> int:
    from qfocus.route.run import RouteFitConfig, fit_router

    config = build_config(RouteFitConfig, args, args.config)
    console, router = _with_progress(fit_router, config)
    console.print(f"router on {router.info['pairs']} pairs (mean gain {router.info['mean_gain']}, ridge alpha "
                  f"{router.alpha:g}) -> {config.out}")
    return 0


def run_curve(args: argparse.Namespace) -> int:
    from qfocus.route.curve import markdown
    from qfocus.route.run import RouteCurveConfig, draw_curve

    config = build_config(RouteCurveConfig, args, args.config)
    console, result = _with_progress(draw_curve, config)
    print(f"{result['title']}\n\n{markdown(result['rows'])}")
    console.print(f"-> {config.out}/curve.json, curve.md, curve.png")
    return 0
