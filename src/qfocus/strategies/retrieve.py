"""`retrieve`: read the passages the query needs, plus evenly spaced ones, in one prompt.

The document is cut into passages at its own lines (qfocus.retrieval), scored against the query
(BM25, dense or hybrid; optionally expanded by MuGI), and the selection fills the window's document
budget: `coverage` of it with evenly spaced passages, the rest by relevance, in document order with
"[...]" at every gap. `--json` lists the passages read with their character offsets and scores.
"""

from __future__ import annotations

import numpy as np

from qfocus.documents import check_query, check_text
from qfocus.models import LoadedModel
from qfocus.prompts import ELISION, Prompt
from qfocus.retrieval import Chosen, assemble, document_index, score, select
from qfocus.retrieval.expansion import expand
from qfocus.strategies.base import OnePromptStrategy, Plan, register


@register
class Retrieve(OnePromptStrategy):
    name = "retrieve"
    description = "the passages most relevant to the query plus evenly spaced ones, in document order"

    def choose(self, lm: LoadedModel, document: str, query: str) -> tuple[Prompt, list[Chosen], int]:
        """The prompt, the passages in it, and the model calls spent choosing them (MuGI)."""
        check_text(document)
        query = check_query(query)
        config = self.config.retrieval
        builder, budget = self.budget(lm, query)
        index = document_index(lm.tokenizer, document, config.passage_tokens)
        n_tokens = len(index.doc.ids)
        expanded = expand(lm, query, config, self.config.generation) if n_tokens > budget else None
        scores = score(index, expanded, config) if expanded else np.zeros(len(index.passages))
        chosen = select(index.passages, scores, n_tokens, budget, config.coverage, len(builder.encode(ELISION)))
        ids, chosen = assemble(chosen, index.doc, builder.encode(ELISION))
        prompt = builder.build(query, ids, document_tokens=n_tokens)
        prompt = Prompt(prompt.input_ids, prompt.query_mask, n_tokens, _read(chosen))
        return prompt, chosen, int(expanded is not None and config.mugi)

    def plan(self, lm: LoadedModel, document: str, query: str) -> Plan:
        prompt, chosen, calls = self.choose(lm, document, query)
        passages = [{"start": c.passage.start, "end": c.passage.end, "score": round(c.score, 4), "reason": c.reason}
                    for c in chosen]
        return Plan(prompt, calls, passages)


def _read(chosen: list[Chosen]) -> int:
    """Document tokens in the prompt (markers excluded)."""
    return sum(c.passage.tokens for c in chosen)
