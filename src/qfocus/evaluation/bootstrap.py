"""Paired bootstrap confidence intervals for the difference between two systems on the same examples.

Resample the examples with replacement (the same draw for both systems), recompute each corpus
metric (mean R-1/R-2/R-Lsum, and the geometric mean of those means), and take the 2.5th and 97.5th
percentiles of the difference (Koehn, 2004; Efron & Tibshirani, 1993). An interval above zero says
the system beats the baseline on this data beyond resampling noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qfocus.evaluation.rouge import METRICS

RESAMPLES = 1000
SEED = 0


@dataclass(frozen=True)
class Interval:
    difference: float  # system minus baseline on all examples
    low: float  # 2.5th percentile of the resampled differences
    high: float  # 97.5th percentile

    def __str__(self) -> str:
        return f"{self.difference:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


def corpus_metrics(scores: np.ndarray) -> np.ndarray:
    """(..., n, 3) per-example R-1/R-2/R-Lsum → (..., 4) means and their geometric mean."""
    means = scores.mean(axis=-2)  # (..., 3)
    geometric = np.prod(means, axis=-1) ** (1 / means.shape[-1])  # (...,)
    return np.concatenate([means, geometric[..., None]], axis=-1)


def score_matrix(rows: list[dict]) -> np.ndarray:
    """(n, 3) R-1/R-2/R-Lsum of per-example score dicts."""
    return np.array([[row[m] for m in METRICS] for row in rows], dtype=np.float64)


def paired_bootstrap(baseline: list[dict], system: list[dict], resamples: int = RESAMPLES,
                     seed: int = SEED) -> dict[str, Interval]:
    """Intervals for rouge1, rouge2, rougeLsum and geometric_mean; `baseline[i]` and `system[i]` are the
    per-example score dicts of the same example."""
    if len(baseline) != len(system) or not baseline:
        raise ValueError("paired bootstrap needs the same, non-empty list of examples for both systems")
    a, b = score_matrix(baseline), score_matrix(system)  # (n, 3) each
    draws = np.random.default_rng(seed).integers(0, len(a), size=(resamples, len(a)))  # (R, n)
    differences = corpus_metrics(b[draws]) - corpus_metrics(a[draws])  # (R, 4)
    point = corpus_metrics(b) - corpus_metrics(a)  # (4,)
    low, high = np.percentile(differences, [2.5, 97.5], axis=0)
    names = (*METRICS, "geometric_mean")
    return {name: Interval(round(float(point[i]), 3), round(float(low[i]), 3), round(float(high[i]), 3))
            for i, name in enumerate(names)}


def mean_interval(differences, resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """The interval of the mean of per-example paired differences (one number per example, such as a
    recall gain), from the same draws `paired_bootstrap` makes; not rounded."""
    d = np.asarray(differences, dtype=np.float64)  # (n,)
    if d.ndim != 1 or not len(d):
        raise ValueError("mean_interval needs a non-empty list of per-example differences")
    draws = np.random.default_rng(seed).integers(0, len(d), size=(resamples, len(d)))  # (R, n)
    low, high = np.percentile(d[draws].mean(axis=1), [2.5, 97.5])
    return Interval(float(d.mean()), float(low), float(high))
