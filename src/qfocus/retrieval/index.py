"""One document, indexed once for any number of queries: passages, BM25, cached passage embeddings.

    index = document_index(tokenizer, document, passage_tokens=128)
    scores = score(index, Query("What did they decide?"), RetrievalConfig(scorer="hybrid"))

Scorers (one score per passage, higher is better):
  bm25    BM25 over all passages (`bm25s`).
  dense   cosine with all-MiniLM-L6-v2 over all passages; above `binary_above` passages, 1-bit codes
          pick `binary_candidates` by Hamming distance and only those are scored in float.
  hybrid  BM25 over all passages; the BM25 top `rerank` (0: all) are embedded too, and the two rankings
          are fused by reciprocal rank. Bounded cost on any document length.
Embeddings are computed on demand and kept with the index, so queries on the same document (a
meeting's many questions) embed each passage once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from qfocus.config import RetrievalConfig
from qfocus.retrieval import binary
from qfocus.retrieval.dense import load_embedder
from qfocus.retrieval.fusion import reciprocal_rank_fusion
from qfocus.retrieval.lexical import BM25Index, content_terms
from qfocus.retrieval.passages import Passage, Tokenized, split_passages, tokenize

_RECENT = 8  # documents kept indexed per process


@dataclass(frozen=True)
class Query:
    """The query and, with MuGI, the model's pseudo-answers to it."""

    text: str
    pseudo_answers: tuple[str, ...] = ()

    def lexical(self) -> str:
        """BM25 query text. MuGI balances the query against the longer pseudo-answers by repeating it
        about (characters of answers / characters of query) / 5 times."""
        if not self.pseudo_answers:
            return self.text
        answers = " ".join(self.pseudo_answers)
        repeats = max(1, len(answers) // max(1, len(self.text)) // 5)
        return " ".join([self.text] * repeats + [answers])

    def dense_texts(self) -> list[str]:
        """Texts whose mean embedding is the query vector: the query, and the query with each answer."""
        return [self.text] + [f"{self.text} {answer}" for answer in self.pseudo_answers]


class DocumentIndex:
    def __init__(self, doc: Tokenized, passage_tokens: int):
        self.doc = doc
        self.passages: list[Passage] = split_passages(doc, passage_tokens)
        self.texts = [doc.text[p.start : p.end] for p in self.passages]
        self._bm25: BM25Index | None = None
        self._last: tuple[str, np.ndarray] | None = None  # the last query's BM25 scores (the first broad rule, then score)
        self._vectors: dict[int, np.ndarray] = {}

    def _lexical(self) -> BM25Index:
        if self._bm25 is None:
            self._bm25 = BM25Index(self.texts)
        return self._bm25

    def bm25(self, query: Query) -> np.ndarray:
        text = query.lexical()
        if self._last is None or self._last[0] != text:
            scores = self._lexical().scores(text)
            scores.setflags(write=False)  # shared between callers
            self._last = (text, scores)
        return self._last[1]

    def reach(self, query: Query, words: str = "content") -> float:
        """Share of the passages that hold a word of the query (BM25 > 0): with `words="content"` only
        words about the content count (`lexical.content_terms`: not "summarize", "meeting", "what"),
        with "all" every BM25 term. A broad query ("summarize the whole meeting") reaches few: its
        words are about the document, not in it."""
        if not self.passages:
            return 0.0
        if words == "all":
            return float((self.bm25(query) > 0).mean())
        return float((self._lexical().term_scores(content_terms(query.text)) > 0).mean())

    def vectors(self, indices: list[int]) -> np.ndarray:
        """(len(indices), d) passage embeddings, computing only those not cached yet."""
        missing = [i for i in indices if i not in self._vectors]
        if missing:
            for i, vector in zip(missing, load_embedder().encode([self.texts[i] for i in missing])):
                self._vectors[i] = vector
        return np.stack([self._vectors[i] for i in indices]) if indices else np.zeros((0, 1), np.float32)

    def dense(self, query: Query, indices: list[int] | None, config: RetrievalConfig) -> np.ndarray:
        """(n_passages,) cosine scores for `indices` (None: all), -inf for the others."""
        vector = load_embedder().encode(query.dense_texts()).mean(0)
        vector /= max(float(np.linalg.norm(vector)), 1e-12)
        indices = list(range(len(self.passages))) if indices is None else indices
        matrix = self.vectors(indices)  # (k, d)
        scores = np.full(len(self.passages), -np.inf, dtype=np.float32)
        if len(indices) > config.binary_above:
            scores[indices] = binary.search(binary.pack(matrix), matrix, vector, config.binary_candidates)
        else:
            scores[indices] = matrix @ vector
        return scores


def score(index: DocumentIndex, query: Query, config: RetrievalConfig) -> np.ndarray:
    """(n_passages,) relevance of each passage to `query` with `config.scorer`."""
    if config.scorer == "bm25":
        return index.bm25(query)
    if config.scorer == "dense":
        return index.dense(query, None, config)
    lexical = index.bm25(query)
    shortlist = None
    if 0 < config.rerank < len(index.passages):
        shortlist = [int(i) for i in np.argsort(-lexical, kind="stable")[: config.rerank]]
    return reciprocal_rank_fusion(lexical, index.dense(query, shortlist, config))


_indexes: OrderedDict[tuple, DocumentIndex] = OrderedDict()


def document_index(tokenizer, text: str, passage_tokens: int) -> DocumentIndex:
    """The index of `text` (built once per process for the last few documents seen)."""
    key = (id(tokenizer), hashlib.sha1(text.encode("utf-8")).hexdigest(), passage_tokens)
    if key in _indexes:
        _indexes.move_to_end(key)
        return _indexes[key]
    index = _indexes[key] = DocumentIndex(tokenize(tokenizer, text), passage_tokens)
    while len(_indexes) > _RECENT:
        _indexes.popitem(last=False)
    return index
