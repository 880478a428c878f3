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


# Words that name the document or the act of asking rather than anything in it: "Summarize the whole
# meeting", "What is the plot of the story?", "What was discussed?". A query with no other word than
# these and English function words (bm25s's longer list, NLTK's) is broad: retrieve's broad rule. The
# list was chosen on QMSum and SQuALITY train (benchmarks/broad_queries.py).
ASKING = """summarize summarise summary summaries overview gist brief briefly general overall whole main key
point points topic topics meeting meetings discuss discussed discussion discussions talk talked talking say
says said happen happened describe story plot document text article chapter"""


@lru_cache(maxsize=1)
def asking_terms() -> frozenset[str]:
    """ASKING and the English function words, as BM25 terms (stemmed)."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(words([ASKING + " " + " ".join(STOPWORDS_EN_PLUS)])[0])


def content_terms(query: str) -> list[str]:
    """The BM25 terms of `query` that are about the document's content (asking_terms dropped)."""
    return [term for term in words([query])[0] if term not in asking_terms()]


class BM25Index:
    """A BM25 index of passage texts; `scores(query)` gives one score per passage."""

    def __init__(self, texts: list[str]):
        self.size = len(texts)
        self._index = _bm25s().BM25()
        self._index.index(words(texts), show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """(n_passages,) BM25 scores of `query`; terms the passages never use score nothing."""
        return self.term_scores(words([query])[0])

    def term_scores(self, terms: list[str]) -> np.ndarray:
        """(n_passages,) BM25 scores of the (already stemmed) `terms`."""
        if not terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._index.get_scores(terms), dtype=np.float32)
