"""LIFT's training samples: the document cut into overlapping segments (DESIGN §10).

A segment of `length` tokens starts every `stride` tokens (reference: 2,048 and 768, i.e. 3/8), so
every token is learned in about length/stride segments; the last segment ends at the document's
last token. A contextualised sample puts before its segment what the model will see when it
answers — pieces of the document's head and tail joined by the elision mark — and an instruction
to recite, with the loss on the segment alone:

    [head piece] [...] [tail piece] [instruction] [segment]      labels: -100 … -100 [segment]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

IGNORE = -100  # label of tokens without loss (transformers' ignore_index)
RECITE = "Given above context, please recite following segment of the context:\n\n"


@dataclass(frozen=True)
class Sample:
    """One training sequence: the ids and how many leading ids carry no loss."""

    input_ids: list[int]
    prefix: int = 0  # tokens before the segment (context + instruction), excluded from the loss

    @property
    def labels(self) -> list[int]:
        return [IGNORE] * self.prefix + self.input_ids[self.prefix:]


def segment_spans(tokens: int, length: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) of segments of `length` tokens starting every `stride` tokens, covering
    `tokens`; the last one ends at `tokens` (moved back to stay full length). One span if the
    document fits in a segment."""
    if length < 1 or stride < 1:
        raise ValueError(f"length {length} and stride {stride} must be positive")
    if tokens <= length:
        return [(0, tokens)]
    spans = [(start, start + length) for start in range(0, tokens - length, stride)]
    spans.append((tokens - length, tokens))
    return spans


def head_tail_context(document: list[int], budget: int, elision: list[int], rng: random.Random) -> list[int]:
    """About `budget` tokens like the answering prompt's: a random piece from the first `budget`
    tokens and one from the last `budget`, of random lengths summing to `budget` (reference:
    LIFT's random ICL context), joined by the elision mark."""
    if len(document) <= budget:
        return list(document)
    front = rng.randint(0, budget)
    back = budget - front
    front_start = rng.randint(0, budget - front)
    back_end = len(document) - rng.randint(0, budget - back)
    return document[front_start:front_start + front] + elision + document[back_end - back:back_end]


def training_samples(document: list[int], length: int, stride: int, *, context: int = 0,
                     elision: list[int] = (), instruction: list[int] = (),
                     rng: random.Random | None = None) -> list[Sample]:
    """One sample per segment; with `context` > 0, each preceded by head/tail context of that many
    tokens and the recite instruction (the context is drawn anew for every sample)."""
    rng = rng or random.Random(0)
    samples = []
    for start, end in segment_spans(len(document), length, stride):
        segment = document[start:end]
        if context > 0:
            prefix = head_tail_context(document, context, list(elision), rng) + list(instruction)
            samples.append(Sample(prefix + segment, len(prefix)))
        else:
            samples.append(Sample(segment))
    return samples
