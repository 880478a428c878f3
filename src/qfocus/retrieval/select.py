"""Choosing passages for one prompt: coverage first, then relevance, filling the budget exactly.

    selection = select(passages, scores, n_tokens, budget, coverage=0.25, marker=3)

1. Coverage: `coverage` of the budget goes to evenly spaced passages, taken in bit-reversed order of
   position (1/2, 1/4, 3/4, 1/8, ...), so any number of them is spread over the whole document and a
   broad query ("summarise the meeting") still sees all of it.
2. Relevance: the rest goes to passages by descending score, each taken if it still fits.
3. Exact fill: what is left goes to the heads of the best-scored passages not yet chosen, so the
   prompt uses the budget to within a few tokens (less than MIN_PIECE + 2 markers); never over.
The chosen passages are put back in document order; every gap between them (and before the first
or after the last, where text is left out) costs one `marker` of tokens, counted exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from qfocus.prompts.budget import head_and_tail
from qfocus.retrieval.passages import Passage, Tokenized

MIN_PIECE = 8  # a cut passage shorter than this many tokens is not worth a gap marker


@dataclass(frozen=True)
class Chosen:
    passage: Passage  # may be the head of a passage (token_end and end cut)
    score: float
    reason: str  # "relevance", "coverage", "fill", "whole" when the document fits, "broad" (head and tail)


def gaps(chosen: list[Passage], n_tokens: int) -> int:
    """Markers needed around `chosen` (any order) in a document of `n_tokens` tokens."""
    spans = sorted((p.token_start, p.token_end) for p in chosen)
    if not spans:
        return 0
    inner = sum(1 for (_, end), (start, _) in zip(spans, spans[1:]) if start != end)
    return inner + (spans[0][0] != 0) + (spans[-1][1] != n_tokens)


def spread_order(n: int) -> list[int]:
    """0..n-1 in an order whose every prefix is spread evenly: the midpoints of k = 1, 2, 4, ... equal
    parts, the parts visited in bit-reversed order (1/2, 1/4, 3/4, 1/8, 5/8, ...)."""
    order, seen, k = [], set(), 1
    while len(order) < n:
        bits = k.bit_length() - 1
        for j in range(k):
            part = int(format(j, f"0{bits}b")[::-1], 2) if bits else 0  # j with its bits reversed
            position = min(n - 1, int((part + 0.5) * n / k))
            if position not in seen:
                seen.add(position)
                order.append(position)
        k *= 2
    return order


def select(passages: list[Passage], scores: np.ndarray, n_tokens: int, budget: int, coverage: float,
           marker: int) -> list[Chosen]:
    """Passages (in document order) whose tokens plus gap markers fill `budget` exactly, or the whole
    document when it fits."""
    if n_tokens <= budget:
        return [Chosen(p, float(scores[p.index]), "whole") for p in passages]
    chosen: dict[int, Chosen] = {}

    def cost(extra: Passage | None = None) -> int:
        picked = [c.passage for c in chosen.values()] + ([extra] if extra else [])
        return sum(p.tokens for p in picked) + marker * gaps(picked, n_tokens)

    def offer(candidates, limit: int, reason: str) -> None:
        for i in candidates:
            p = passages[i]
            if i not in chosen and p.tokens and cost(p) <= limit:
                chosen[i] = Chosen(p, float(scores[i]), reason)

    offer(spread_order(len(passages)), int(coverage * budget), "coverage")
    ranking = [int(i) for i in np.argsort(-scores, kind="stable")]
    offer(ranking, budget, "relevance")
    for i in ranking:  # exact fill: heads of the best passages left out
        room = budget - cost()
        if room < MIN_PIECE:
            break
        p = passages[i]
        if i in chosen or p.tokens <= MIN_PIECE:
            continue
        markers = cost(replace(p, token_end=p.token_start + MIN_PIECE)) - cost() - MIN_PIECE  # gaps it adds
        take = min(p.tokens - 1, room - markers)
        if take >= MIN_PIECE:
            chosen[i] = Chosen(replace(p, token_end=p.token_start + take), float(scores[i]), "fill")
    return sorted(chosen.values(), key=lambda c: c.passage.token_start)


def head_and_tail_spans(doc: Tokenized, budget: int, head_fraction: float, marker: int, reason: str) -> list[Chosen]:
    """The head and tail `truncate` keeps (`prompts.keep_head_and_tail`, which gives their ids) as
    chosen passages with their character spans: the head from character 0, the tail to the end."""
    n = len(doc.ids)
    head, tail = head_and_tail(n, budget, head_fraction, marker)
    spans = [Chosen(Passage(0, 0, doc.char_of(head), 0, head), 0.0, reason)]
    if tail:
        spans.append(Chosen(Passage(1, doc.char_of(n - tail), len(doc.text), n - tail, n), 0.0, reason))
    return spans


def assemble(selection: list[Chosen], doc: Tokenized, marker_ids: list[int]) -> tuple[list[int], list[Chosen]]:
    """The prompt's document ids (passages in order, `marker_ids` at every gap) and the chosen passages
    with their character ends made to match cut token spans."""
    ids: list[int] = []
    out: list[Chosen] = []
    previous_end = 0
    for c in selection:
        p = c.passage
        if p.token_start != previous_end:
            ids += marker_ids
        ids += doc.ids[p.token_start : p.token_end]
        previous_end = p.token_end
        out.append(replace(c, passage=replace(p, end=min(p.end, doc.char_of(p.token_end)))))
    if selection and previous_end != len(doc.ids):
        ids += marker_ids
    return ids, out
