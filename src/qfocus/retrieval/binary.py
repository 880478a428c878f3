"""Binary passage codes for fast first-stage search (the BEBR idea, seed 001: 1 bit per dimension).

Each unit-length float embedding becomes its sign bits, packed 8 to a byte (384 dims → 48 bytes, 32x
smaller than float32). Search: Hamming distance between the query's code and every passage code
(XOR + popcount), the `candidates` nearest kept, then re-ranked by the float dot product. BEBR learns
a binarisation; sign bits are its simplest, training-free form.
"""

from __future__ import annotations

import numpy as np


def pack(embeddings: np.ndarray) -> np.ndarray:
    """(n, d) float → (n, ceil(d/8)) uint8 sign codes (bit = 1 where the value is positive)."""
    return np.packbits(embeddings > 0, axis=-1)


def hamming(codes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(n,) Hamming distances between (n, bytes) codes and one (bytes,) code."""
    return np.bitwise_count(np.bitwise_xor(codes, query)).sum(axis=-1, dtype=np.int32)


def search(codes: np.ndarray, embeddings: np.ndarray, query: np.ndarray, candidates: int) -> np.ndarray:
    """(n,) scores: the float cosine for the `candidates` passages nearest in Hamming distance, -inf elsewhere."""
    distances = hamming(codes, pack(query[None])[0])
    keep = np.argsort(distances, kind="stable")[:candidates]
    scores = np.full(len(codes), -np.inf, dtype=np.float32)
    scores[keep] = embeddings[keep] @ query
    return scores
