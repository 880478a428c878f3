"""Reciprocal-rank fusion (Cormack et al., 2009): score(p) = Σ_rankings 1 / (k + rank(p)), rank from 1."""

from __future__ import annotations

import numpy as np

RRF_K = 60


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each entry, best (highest) first; ties broken by position (earlier first)."""
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(len(scores), dtype=np.int64)
    rank[order] = np.arange(1, len(scores) + 1)
    return rank


def reciprocal_rank_fusion(*scores: np.ndarray, k: int = RRF_K) -> np.ndarray:
    """Fused scores (higher is better) of several score vectors over the same passages; a -inf score
    (not scored by that ranker) contributes nothing."""
    fused = np.zeros(len(scores[0]), dtype=np.float64)
    for s in scores:
        fused += np.where(np.isfinite(s), 1.0 / (k + ranks(s)), 0.0)
    return fused
