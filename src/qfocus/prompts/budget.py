"""Token-exact budgeting: what part of a document fits a window beside the prompt and the answer."""

from __future__ import annotations

from qfocus.errors import DocumentTooLong, InputError

ELISION = "\n[...]\n"


def document_budget(window: int, overhead: int, max_new_tokens: int) -> int:
    """Document tokens that fit: the window minus the prompt's other tokens and the answer."""
    budget = window - overhead - max_new_tokens
    if budget < 1:
        raise InputError(
            f"the query and answer need {overhead + max_new_tokens} of the {window}-token window, "
            "leaving no room for the document: shorten the query or lower --max-new-tokens"
        )
    return budget


def keep_head_and_tail(ids: list[int], budget: int, head_fraction: float, marker: list[int]) -> list[int]:
    """The first and last tokens of `ids`, joined by `marker`, in exactly `budget` tokens or fewer.

    A document that fits is returned whole. Otherwise `head_fraction` of the room goes to the head.
    """
    head, tail = head_and_tail(len(ids), budget, head_fraction, len(marker))
    if tail == 0:
        return list(ids[:head])
    return list(ids[:head]) + list(marker) + list(ids[len(ids) - tail :])


def head_and_tail(n: int, budget: int, head_fraction: float, marker: int) -> tuple[int, int]:
    """How many of `n` tokens `keep_head_and_tail` keeps from the start and from the end (tail 0: no
    marker; a document that fits is all head)."""
    if n <= budget:
        return n, 0
    room = budget - marker
    if room < 2:
        return budget, 0
    head = min(room - 1, max(1, round(room * head_fraction)))
    return head, room - head


def require_fit(document_tokens: int, budget: int, window: int, max_new_tokens: int) -> None:
    """Refuse a document that does not fit, naming the numbers and the ways out."""
    if document_tokens > budget:
        raise DocumentTooLong(
            f"the document has {document_tokens} tokens but only {budget} fit the {window}-token window "
            f"with --max-new-tokens {max_new_tokens}: use --strategy truncate or a model with a longer window"
        )
