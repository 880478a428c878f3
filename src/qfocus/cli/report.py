"""`qfocus report`: a markdown table and a bar chart comparing `qfocus eval` runs."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Compare evaluation runs: prints a markdown table (ROUGE-1, ROUGE-2, ROUGE-Lsum, their geometric
mean, mean prompt tokens and seconds per example; the best score in each column in bold) and saves
a grouped bar chart. Each RUN_DIR is a folder written by `qfocus eval --out`. When every run scored
the same examples, each run after the first also gets its difference from the first in geometric
mean and ROUGE-Lsum, with a paired bootstrap 95% interval (1,000 resamples over examples, seeded).
"""

EXAMPLES = """\
examples:
  qfocus report runs/covidet-zero-shot runs/covidet-lora-eval runs/covidet-ideal-eval
  qfocus report runs/qmsum-* --plot docs/img/qmsum.png --title "QMSum val, 24 queries" > table.md
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("report", help="compare eval runs: markdown table + bar chart",
                                   description=DESCRIPTION, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="folders written by `qfocus eval --out`")
    parser.add_argument("--plot", default="report.png", metavar="PNG", help="where to save the bar chart (default: report.png)")
    parser.add_argument("--title", help="chart title (default: the datasets compared)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from qfocus.evaluation.report import bar_chart, intervals, load_runs, markdown_table, same_examples

    rows = load_runs(args.runs)
    paired = same_examples(rows)
    print(markdown_table(rows, intervals(rows) if paired else None))
    if paired:
        print(f"\nn = {rows[0].examples} (the same examples in every run); intervals: paired bootstrap 95%, "
              f"difference from {rows[0].name}")
    path = bar_chart(rows, args.plot, args.title)
    print(f"chart -> {path}", file=sys.stderr)
    return 0
