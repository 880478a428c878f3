"""ROUGE as the field reports it (DESIGN §7): Google's rouge-score, F1 × 100, Porter stemming,
ROUGE-Lsum over newline-separated sentences (split with pysbd, which ships its rules; NLTK's
punkt data cannot be downloaded offline), the best reference per metric for multi-reference sets,
and the geometric mean of R-1, R-2 and R-Lsum.
"""

from __future__ import annotations

import math
from functools import lru_cache

METRICS = ("rouge1", "rouge2", "rougeLsum")


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def sentence_lines(text: str) -> str:
    """One sentence per line, as rougeLsum expects."""
    return "\n".join(s.strip() for s in _segmenter().segment(text.strip()) if s.strip())


def rouge(prediction: str, references: tuple[str, ...] | list[str]) -> dict[str, float]:
    """F1 × 100 for each metric, the maximum over `references`."""
    if not references:
        raise ValueError("rouge needs at least one reference")
    predicted = sentence_lines(prediction)
    best = dict.fromkeys(METRICS, 0.0)
    for reference in references:
        scores = _scorer().score(sentence_lines(reference), predicted)
        for metric in METRICS:
            best[metric] = max(best[metric], scores[metric].fmeasure * 100)
    return best


def aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    """Means over examples and their geometric mean (0 when any mean is 0)."""
    means = {metric: sum(row[metric] for row in rows) / len(rows) for metric in METRICS}
    means["geometric_mean"] = math.prod(means[m] for m in METRICS) ** (1 / len(METRICS))
    return means
