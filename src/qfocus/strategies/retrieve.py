"""`retrieve`: read the passages the query needs, plus evenly spaced ones, in one prompt.

The document is cut into passages at its own lines (qfocus.retrieval), scored against the query
(BM25, dense or hybrid; optionally expanded by MuGI), and the selection fills the window's document
budget: `coverage` of it with evenly spaced passages, the rest by relevance, in document order with
"[...]" at every gap. `--json` lists the passages read with their character offsets and scores.

A broad query ("Summarize the whole meeting") has nothing to retrieve: its words are about the
document, not in it. When none of the query's content words (not "summarize", "meeting", "what": see
`retrieval.lexical.ASKING`) occurs in the document, the prompt is the head and tail `truncate` keeps
(docs/results.md: on QMSum, retrieval loses to truncation on general queries; the rule was chosen on
QMSum and SQuALITY train). `broad_reach="all"` is the first rule: fewer than `broad_below` of the
passages hold any word of the query.
With `specific_window` a specific query reads a shorter, focused prompt (its best passages only)
while a broad one still reads the whole window.
"""

from __future__ import annotations

import numpy as np

from qfocus.documents import check_query, check_text
from qfocus.errors import InputError
from qfocus.models import LoadedModel
from qfocus.prompts import ELISION, Prompt, keep_head_and_tail
from qfocus.retrieval import Chosen, Query, assemble, document_index, head_and_tail_spans, score, select
from qfocus.retrieval.expansion import expand
from qfocus.retrieval.select import MIN_PIECE
from qfocus.strategies.base import OnePromptStrategy, Plan, register


@register
class Retrieve(OnePromptStrategy):
    name = "retrieve"
    retrieval_settings = ("*",)
    description = "the passages most relevant to the query plus evenly spaced ones, in document order"

    def choose(self, lm: LoadedModel, document: str, query: str) -> tuple[Prompt, list[Chosen], int]:
        """The prompt, the passages in it, and the model calls spent choosing them (MuGI)."""
        check_text(document)
        query = check_query(query)
        config = self.config.retrieval
        builder, budget = self.budget(lm, query)
        index = document_index(lm.tokenizer, document, config.passage_tokens)
        n_tokens = len(index.doc.ids)
        marker = builder.encode(ELISION)
        expanded = None
        if n_tokens > budget and _broad(index, query, config):  # truncate's prompt
            ids = keep_head_and_tail(index.doc.ids, budget, self.config.head_fraction, marker)
            chosen = head_and_tail_spans(index.doc, budget, self.config.head_fraction, len(marker), "broad")
        else:
            if config.specific_window and n_tokens > budget:  # a focused prompt: fewer, more relevant passages
                room = config.specific_window - builder.overhead(query) - self.config.generation.max_new_tokens
                if room < MIN_PIECE:
                    raise InputError(f"--specific-window {config.specific_window} leaves {max(room, 0)} tokens for the "
                                     "document beside this query and the answer: pass a larger window, such as 1024")
                budget = min(budget, room)
            expanded = expand(lm, query, config, self.config.generation) if n_tokens > budget else None
            scores = score(index, expanded, config) if expanded else np.zeros(len(index.passages))
            chosen = select(index.passages, scores, n_tokens, budget, config.coverage, len(marker))
            ids, chosen = assemble(chosen, index.doc, marker)
        prompt = builder.build(query, ids, document_tokens=n_tokens)
        prompt = Prompt(prompt.input_ids, prompt.query_mask, n_tokens, _read(chosen))
        return prompt, chosen, int(expanded is not None and config.mugi)

    def plan(self, lm: LoadedModel, document: str, query: str) -> Plan:
        prompt, chosen, calls = self.choose(lm, document, query)
        passages = [{"start": c.passage.start, "end": c.passage.end, "score": round(c.score, 4), "reason": c.reason}
                    for c in chosen]
        return Plan(prompt, calls, passages)


def _broad(index, query: str, config) -> bool:
    """retrieve's broad rule (`RetrievalConfig.broad_reach`): no content word of the query in any passage,
    or (all) fewer than `broad_below` of the passages holding any word of it; off when broad_below is 0."""
    if config.broad_below <= 0:
        return False
    if config.broad_reach == "content":
        return index.reach(Query(query)) == 0
    return index.reach(Query(query), "all") < config.broad_below


def _read(chosen: list[Chosen]) -> int:
    """Document tokens in the prompt (markers excluded)."""
    return sum(c.passage.tokens for c in chosen)
