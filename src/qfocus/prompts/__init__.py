"""Prompt construction (query before and after the document) and token-exact budgeting."""

from qfocus.prompts.budget import ELISION, document_budget, head_and_tail, keep_head_and_tail, require_fit
from qfocus.prompts.template import Prompt, PromptBuilder, user_message

__all__ = ["ELISION", "Prompt", "PromptBuilder", "document_budget", "head_and_tail", "keep_head_and_tail", "require_fit", "user_message"]
