"""Passages: the document cut at its own units and grouped to about P tokens, with exact spans.

Units are the document's lines (a transcript turn, a paragraph); a unit longer than P tokens is
cut at pysbd sentences, and a sentence longer than P at token boundaries. Consecutive units are
grouped while the group stays within P tokens. Every passage knows its character span in the
original text and its token span in the document's ids, and the passages tile both exactly:
separators belong to the passage before them, so joining the passages' texts gives the document.

The document is tokenised once (a fast tokenizer's offset mapping); a token belongs to the passage
holding its first character, so a passage's ids are a slice of the document's ids.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_LINE = re.compile(r"[^\n]*\n+|[^\n]+$")


@dataclass(frozen=True)
class Passage:
    index: int  # position in document order
    start: int  # character span [start, end) in the document
    end: int
    token_start: int  # token span [token_start, token_end) in the document's ids
    token_end: int

    @property
    def tokens(self) -> int:
        return self.token_end - self.token_start


@dataclass(frozen=True)
class Tokenized:
    """A document's ids with the character where each token starts."""

    text: str
    ids: list[int]
    starts: list[int]  # starts[t]: first character of token t (non-decreasing)

    def tokens_in(self, start: int, end: int) -> tuple[int, int]:
        """The token span whose tokens start inside characters [start, end)."""
        return bisect.bisect_left(self.starts, start), bisect.bisect_left(self.starts, end)

    def char_of(self, token: int) -> int:
        """First character of token `token` (the text's length past the last token)."""
        return self.starts[token] if token < len(self.starts) else len(self.text)


def tokenize(tokenizer, text: str) -> Tokenized:
    """Ids of `text` (no special tokens) and each token's first character; needs a fast tokenizer."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    starts, last = [], 0
    for begin, _ in encoded["offset_mapping"]:
        last = max(last, begin)  # offsets of merged/special pieces may step back: keep them monotone
        starts.append(last)
    return Tokenized(text, list(encoded["input_ids"]), starts)


def split_passages(doc: Tokenized, passage_tokens: int) -> list[Passage]:
    """Passages of about `passage_tokens` tokens that tile `doc` exactly (characters and tokens)."""
    if passage_tokens < 1:
        raise ValueError(f"passage_tokens is {passage_tokens}: pass a positive number such as 128")
    units = [span for line in _lines(doc.text) for span in _fit_unit(doc, line, passage_tokens)]
    groups: list[list[int]] = []  # [start, end, tokens]
    for start, end in units:
        count = _count(doc, start, end)
        if groups and groups[-1][2] + count <= passage_tokens:
            groups[-1][1], groups[-1][2] = end, groups[-1][2] + count
        else:
            groups.append([start, end, count])
    passages, token = [], 0
    for index, (start, end, _) in enumerate(groups):
        start = 0 if index == 0 else start
        end = len(doc.text) if index == len(groups) - 1 else end
        token_end = doc.tokens_in(start, end)[1] if index < len(groups) - 1 else len(doc.ids)
        passages.append(Passage(index, start, end, token, token_end))
        token = token_end
    return passages


def _lines(text: str) -> list[tuple[int, int]]:
    """[start, end) of each line with the newlines after it."""
    return [match.span() for match in _LINE.finditer(text)]


def _count(doc: Tokenized, start: int, end: int) -> int:
    first, last = doc.tokens_in(start, end)
    return last - first


def _fit_unit(doc: Tokenized, span: tuple[int, int], limit: int) -> list[tuple[int, int]]:
    """The unit itself if it has at most `limit` tokens, else its sentences (cut further if needed)."""
    start, end = span
    if _count(doc, start, end) <= limit:
        return [span]
    pieces = []
    for sentence in _sentences(doc.text, start, end):
        if _count(doc, *sentence) <= limit:
            pieces.append(sentence)
        else:
            pieces.extend(_token_cuts(doc, sentence, limit))
    return pieces


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """pysbd sentence spans of text[start:end], tiling it (whitespace goes with the sentence before)."""
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    cuts = sorted({start + s.start for s in segmenter.segment(text[start:end]) if 0 < s.start < end - start})
    bounds = [start, *cuts, end]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def _token_cuts(doc: Tokenized, span: tuple[int, int], limit: int) -> list[tuple[int, int]]:
    """Cut a span at every `limit`-th token start."""
    first, last = doc.tokens_in(*span)
    cuts = [doc.char_of(t) for t in range(first + limit, last, limit)]
    bounds = [span[0], *cuts, span[1]]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
