"""`lead`: the first N words of the document, no model call: the extractive floor of every table.

DESIGN §7: on CovidET, zero-shot SmolLM2 scores below simply taking the first 30 words of the post,
so every results table carries this baseline.
"""

from __future__ import annotations

import time

from qfocus.documents import check_query, check_text
from qfocus.generation import Callbacks
from qfocus.models import LoadedModel
from qfocus.strategies.base import Strategy, Summary, register

LEAD_WORDS = 30


@register
class Lead(Strategy):
    name = "lead"
    description = f"the document's first {LEAD_WORDS} words, no model (the extractive baseline)"

    def summarize(self, lm: LoadedModel, document: str, query: str, callbacks: Callbacks | None = None) -> Summary:
        start = time.perf_counter()
        check_text(document)
        check_query(query)
        words = document.split()
        text = " ".join(words[:LEAD_WORDS])
        if callbacks and callbacks.on_token:
            callbacks.on_token(text)
        return Summary(summary=text, strategy=self.name, model=lm.name, prompt_tokens=0,
                       document_tokens=len(lm.tokenizer(document, add_special_tokens=False)["input_ids"]),
                       truncated_tokens=0, answer_tokens=len(lm.tokenizer(text, add_special_tokens=False)["input_ids"]),
                       seconds=round(time.perf_counter() - start, 3))
