"""`truncate`: keep the head and the tail of the document so prompt + answer fit the window.

The baseline every long-document paper compares with. The elided middle is marked with "[...]".
"""

from __future__ import annotations

from qfocus.prompts import ELISION, PromptBuilder, keep_head_and_tail
from qfocus.strategies.base import SinglePromptStrategy, register


@register
class Truncate(SinglePromptStrategy):
    name = "truncate"
    description = "keep the document's start and end so that prompt + answer fit the window (default)"

    def fit(self, document_ids: list[int], budget: int, builder: PromptBuilder, window: int) -> list[int]:
        return keep_head_and_tail(document_ids, budget, self.config.head_fraction, builder.encode(ELISION))
