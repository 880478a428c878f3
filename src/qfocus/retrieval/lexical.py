"""BM25 over passages with `bm25s` (Lucene's variant, k1 1.5, b 0.75), English stop words, Porter stems."""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _bm25s():
    """bm25s, imported on first use; it sets its own logger to DEBUG on import, so quieten it after."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.porter import PorterStemmer  # rouge-score's own dependency; needs no data files

    return PorterStemmer()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer().stem(word)


def _stem_all(words: list[str]) -> list[str]:
    return [_stem(word) for word in words]


def words(texts: list[str]) -> list[list[str]]:
    """BM25 terms of each text: lower-cased words of 2+ characters, stop words dropped, stemmed."""
    return _bm25s().tokenize(texts, stopwords="en", stemmer=_stem_all, return_ids=False, show_progress=False)


class BM25Index:
    """A BM25 index of passage texts; `scores(query)` gives one score per passage."""

    def __init__(self, texts: list[str]):
        self.size = len(texts)
        self._index = _bm25s().BM25()
        self._index.index(words(texts), show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """(n_passages,) BM25 scores of `query`; terms the passages never use score nothing."""
        terms = words([query])[0]
        if not terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._index.get_scores(terms), dtype=np.float32)
