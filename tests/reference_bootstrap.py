"""A naive paired bootstrap, written as loops, to check qfocus.evaluation.bootstrap against.

It consumes the same random draws (numpy's default_rng(seed).integers(0, n, (R, n))) so the two
must agree to rounding.
"""

from __future__ import annotations

import numpy as np

METRICS = ("rouge1", "rouge2", "rougeLsum")


def corpus(rows: list[dict]) -> dict[str, float]:
    means = {m: sum(r[m] for r in rows) / len(rows) for m in METRICS}
    product = 1.0
    for m in METRICS:
        product *= means[m]
    means["geometric_mean"] = product ** (1 / 3)
    return means


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def naive_paired_bootstrap(baseline: list[dict], system: list[dict], resamples: int, seed: int) -> dict:
    draws = np.random.default_rng(seed).integers(0, len(baseline), size=(resamples, len(baseline)))
    out = {}
    for metric in (*METRICS, "geometric_mean"):
        differences = []
        for draw in draws:
            a = corpus([baseline[i] for i in draw])
            b = corpus([system[i] for i in draw])
            differences.append(b[metric] - a[metric])
        point = corpus(system)[metric] - corpus(baseline)[metric]
        out[metric] = (point, percentile(differences, 2.5), percentile(differences, 97.5))
    return out


def naive_mean_interval(differences: list[float], resamples: int, seed: int) -> tuple[float, float, float]:
    draws = np.random.default_rng(seed).integers(0, len(differences), size=(resamples, len(differences)))
    means = [sum(differences[i] for i in draw) / len(draw) for draw in draws]
    return sum(differences) / len(differences), percentile(means, 2.5), percentile(means, 97.5)
