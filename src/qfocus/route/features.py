"""What the router knows about a (query, document) pair before any model answers (DESIGN §13).

Lengths, how retrievable the query's answer looks (BM25 scores of the document's passages, and dense
scores of BM25's best 64:
a peaked distribution says one place answers it; a flat one says the query is broad), and
optionally the query's own embedding (all-MiniLM-L6-v2, 384 numbers). No string matching of the
query's wording: broad and specific queries are told apart by the scores.
"""

from __future__ import annotations

import numpy as np

from qfocus.config import RetrievalConfig
from qfocus.retrieval.dense import load_embedder
from qfocus.retrieval.index import Query, document_index

SCALARS = ("query_words", "document_words", "passages", "bm25_top", "bm25_margin", "bm25_top5_share", "bm25_coverage",
           "dense_max", "dense_mean", "dense_margin")
PASSAGE_TOKENS = 128
SHORTLIST = 64  # passages embedded per document: BM25's best, as `retrieve --scorer hybrid` re-ranks (bounded cost)


def feature_names(embedding: bool) -> list[str]:
    return list(SCALARS) + ([f"query_embedding_{i}" for i in range(load_embedder().dim)] if embedding else [])


def features(query: str, document: str, embedding: bool = True) -> np.ndarray:
    """(len(feature_names(embedding)),) float64 features of one pair."""
    embedder = load_embedder()
    index = document_index(embedder.tokenizer, document, PASSAGE_TOKENS)
    lexical = np.maximum(index.bm25(Query(query)).astype(np.float64), 0.0)  # (P,)
    shortlist = [int(i) for i in np.argsort(-lexical, kind="stable")[:SHORTLIST]]
    dense = index.dense(Query(query), shortlist, RetrievalConfig()).astype(np.float64)[shortlist]  # (≤64,) cosines
    total = lexical.sum()
    top5 = np.sort(lexical)[::-1][:5].sum() / total if total > 0 else 0.0
    scalars = [
        np.log1p(len(query.split())), np.log1p(len(document.split())), np.log1p(len(index.passages)),
        lexical.max(initial=0.0), lexical.max(initial=0.0) - lexical.mean(), top5, float((lexical > 0).mean()),
        dense.max(), dense.mean(), dense.max() - dense.mean(),
    ]
    if not embedding:
        return np.array(scalars, dtype=np.float64)
    return np.concatenate([np.array(scalars, dtype=np.float64), embedder.encode([query])[0].astype(np.float64)])
