"""`truncate`: keep the head and the tail of the document so prompt + answer fit the window.

The baseline every long-document paper compares with. The elided middle is marked with "[...]".
`--json` (and the service) lists the two kept spans as passages with their character offsets.
"""

from __future__ import annotations

from qfocus.models import LoadedModel
from qfocus.prompts import ELISION, PromptBuilder, head_and_tail, keep_head_and_tail
from qfocus.strategies.base import Plan, SinglePromptStrategy, register


@register
class Truncate(SinglePromptStrategy):
    name = "truncate"
    description = "keep the document's start and end so that prompt + answer fit the window (default)"

    def fit(self, document_ids: list[int], budget: int, builder: PromptBuilder, window: int) -> list[int]:
        return keep_head_and_tail(document_ids, budget, self.config.head_fraction, builder.encode(ELISION))

    def plan(self, lm: LoadedModel, document: str, query: str) -> Plan:
        """The prompt, and the head and tail it keeps as character spans {start, end, reason} of
        `document` (one span, reason whole, when it all fits; none for a tokenizer without offsets)."""
        if not getattr(lm.tokenizer, "is_fast", False):
            return Plan(self.prepare(lm, document, query))
        encoded = lm.tokenizer(document, add_special_tokens=False, return_offsets_mapping=True)  # one tokenisation
        prompt = self.prepare(lm, document, query, encoded["input_ids"])
        return Plan(prompt, passages=self._spans(lm, document, encoded["offset_mapping"], prompt.kept_document_tokens))

    def _spans(self, lm: LoadedModel, document: str, offsets: list[tuple[int, int]], kept: int) -> list[dict]:
        marker = len(PromptBuilder(lm.tokenizer).encode(ELISION))
        head, tail = head_and_tail(len(offsets), kept, self.config.head_fraction, marker)  # kept = the budget when cut
        if head == len(offsets):
            return [{"start": 0, "end": len(document), "reason": "whole"}]
        spans = [{"start": 0, "end": offsets[head - 1][1], "reason": "head"}]
        if tail:
            spans.append({"start": offsets[len(offsets) - tail][0], "end": len(document), "reason": "tail"})
        return spans
