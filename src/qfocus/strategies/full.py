"""`full`: the whole document in one prompt, or a clear refusal when it does not fit."""

from __future__ import annotations

from qfocus.prompts import PromptBuilder, require_fit
from qfocus.strategies.base import SinglePromptStrategy, register


@register
class Full(SinglePromptStrategy):
    name = "full"
    description = "the whole document in one prompt; refuses a document that does not fit the window"

    def fit(self, document_ids: list[int], budget: int, builder: PromptBuilder, window: int) -> list[int]:
        require_fit(len(document_ids), budget, window, self.config.generation.max_new_tokens)
        return document_ids
