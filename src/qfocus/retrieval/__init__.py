"""Query-aware retrieval over one long document: passages with exact spans, BM25 / dense / hybrid
scoring, binary codes, MuGI query expansion, and budget-exact selection with coverage.

The machinery of the `retrieve` strategy (strategies/retrieve.py); it imports nothing from strategies.
"""

from qfocus.retrieval.index import DocumentIndex, Query, document_index, score
from qfocus.retrieval.passages import Passage, Tokenized, split_passages, tokenize
from qfocus.retrieval.select import Chosen, assemble, gaps, head_and_tail_spans, select, spread_order

__all__ = ["Chosen", "DocumentIndex", "Passage", "Query", "Tokenized", "assemble", "document_index", "gaps",
           "head_and_tail_spans", "score", "select", "split_passages", "spread_order", "tokenize"]
