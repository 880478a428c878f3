"""`qfocus summarize`: answer a query about a document, streaming the answer to stdout."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from qfocus.cli.args import add_config_arguments, build_config
from qfocus.config import SummarizeConfig

if TYPE_CHECKING:
    from qfocus.documents import Document

DESCRIPTION = """\
Write the summary that answers QUERY about the document at PATH (UTF-8 text, Markdown, PDF, HTML
or DOCX, told apart by their content; - reads stdin). The answer streams to stdout as it is written;
progress goes to stderr. With --json, a PDF's passages name their pages.

strategies:
  truncate   keep the document's start and end so prompt + answer fit the window (default)
  full       the whole document in one prompt; refuses one that does not fit
  lead       the document's first 30 words, no model (the extractive baseline for tables)
  retrieve   the passages the query needs (BM25 / dense / hybrid, --scorer; MuGI expansion, --mugi)
             plus evenly spaced ones (--coverage), in document order; --json lists them with offsets
  mapreduce  answer on every window-sized chunk (batched), then combine the answers, recursively
  refine     a running answer revised with each chunk in turn
  ideal      IDEAL: HyperExpert + query-focused memory; reads the WHOLE document in segments of
             --segment tokens in constant memory (needs --adapter trained with `qfocus train --memory`)
  infini     the memory alone: an --adapter's trained gates (`--method none --memory`), else untrained
  qllm       Q-LLM: the whole document through sinks + local window + the KV blocks the query picks
  stream     StreamingLLM: sinks + local window only, constant memory
  focus      FocusLLM: the earlier text in chunks decoded in parallel, each ending in a candidate token
             whose keys/values the local context (--focus-local) reads; linear in length
  lift       LIFT: fine-tune an adapter (--lift-adapter lora|gated) on the document, then answer from its
             head and tail; the weights are cached per document (`qfocus cache list|clear`)
"""

EXAMPLES = """\
examples:
  qfocus summarize meeting.md --query "What did the board decide about the budget?"
  cat report.txt | qfocus summarize - -q "Which risks are named?" --max-new-tokens 200
  qfocus summarize meeting.md -q "Summarise the discussion of staffing." --json
  qfocus summarize report.pdf -q "Which risks are named?" --strategy retrieve --json   # passages list pages
  qfocus summarize notes.md -q "..." --model /path/to/hf-checkpoint --strategy full
  qfocus summarize notes.md -q "..." --adapter none                      # zero-shot, without the shipped adapter
  qfocus summarize notes.md -q "..." --adapter runs/qmsum-ideal-lora     # a HyperExpert you trained
  qfocus summarize meeting.md -q "What was decided about the budget?" --strategy retrieve --json
  qfocus summarize meeting.md -q "..." --strategy retrieve --scorer bm25 --coverage 0.5 --mugi
  qfocus summarize year.md -q "..." --strategy ideal --adapter runs/qmsum-ideal-lora-memory  # any length
  qfocus summarize meeting.md -q "..." --strategy lift --lift-seconds 120   # a second query reuses the weights
  qfocus summarize notes.md -q "..." --config summarize.yaml   # same keys as the flags
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "summarize",
        help="answer a query about a long document",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("document", metavar="PATH|-",
                        help="the document: a text, Markdown, PDF, HTML or DOCX file, or - for stdin")
    parser.add_argument("-q", "--query", required=True, help="what the summary should answer")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the summary and its metadata")
    parser.add_argument("--config", metavar="YAML", help="read options from a YAML file (flags win)")
    add_config_arguments(parser, SummarizeConfig, "model and strategy")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qfocus.cli.status import load_with_status
    from qfocus.documents import check_query, open_document
    from qfocus.strategies import get_strategy

    config: SummarizeConfig = build_config(SummarizeConfig, args, args.config)
    strategy = get_strategy(config.strategy, config)
    query = check_query(args.query)
    document = open_document(args.document, config.max_bytes)
    lm = load_with_status(config, strategy.adapter_folder())
    with _PromptProgress() as progress:
        callbacks = progress.callbacks(stream=not args.json)
        summary = strategy.summarize(lm, document.text, query, callbacks)
    if args.json:
        print(json.dumps(document.cite(summary.to_dict()), ensure_ascii=False))
    else:
        sys.stdout.write("\n")
    return 0


class _PromptProgress:
    """A rich progress bar on stderr while the prompt is read; removed when the answer starts."""

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
            TimeRemainingColumn(), console=Console(stderr=True), transient=True,
        )
        self._progress.start()
        self._tasks: dict[str, int] = {}
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def on_progress(self, stage: str, done: int, total: int, unit: str = "tokens") -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage, total=total, unit=unit)
        self._progress.update(self._tasks[stage], completed=done, total=total, unit=unit)

    def on_step(self, done: int, total: int, loss: float) -> None:
        """lift: one training step on the document."""
        self.on_progress("adapting to the document", done, total, f"steps, loss {loss:.3f}")

    def on_token(self, text: str) -> None:
        if self._progress.live.is_started:
            self._progress.stop()
        sys.stdout.write(text)
        sys.stdout.flush()

    def callbacks(self, stream: bool):
        from qfocus.generation import Callbacks

        return Callbacks(on_token=self.on_token if stream else None, on_progress=self.on_progress,
                         on_step=self.on_step)
