"""The cost–quality curve of routing (Hybrid LLM's evaluation): for each share of queries sent to the
large configuration, the quality of the mixed answers, against random routing at the same share,
the all-large quality (paired bootstrap interval of the difference) and an oracle that knows each
query's true gain.
"""

from __future__ import annotations

import textwrap

import numpy as np

from qfocus.evaluation.bootstrap import corpus_metrics, paired_bootstrap, score_matrix

SHARES = tuple(round(0.1 * i, 1) for i in range(11))
RANDOM_DRAWS = 500


def gains(small: list[dict], large: list[dict]) -> np.ndarray:
    """(n,) per-query gain of large over small: the mean of R-1, R-2, R-Lsum (the router's target)."""
    return score_matrix(large).mean(1) - score_matrix(small).mean(1)


def routed(small: list[dict], large: list[dict], order: np.ndarray, k: int) -> list[dict]:
    """Each query's scores from the large configuration if it is among the first k of `order`."""
    chosen = set(int(i) for i in order[:k])
    return [large[i] if i in chosen else small[i] for i in range(len(small))]


def routing_curve(small: list[dict], large: list[dict], predicted: np.ndarray, shares=SHARES,
                  resamples: int = 1000, seed: int = 0) -> list[dict]:
    """One row per share: geo. mean and R-Lsum of router, random (mean and 95% range over draws) and
    oracle routing, and the router's paired interval against all-large."""
    n = len(small)
    S, L = score_matrix(small), score_matrix(large)
    router_order = np.argsort(-np.asarray(predicted), kind="stable")
    oracle_order = np.argsort(-gains(small, large), kind="stable")
    rng = np.random.default_rng(seed)
    rows = []
    for share in shares:
        k = int(round(share * n))
        mixed = routed(small, large, router_order, k)
        picks = np.argsort(rng.random((RANDOM_DRAWS, n)), axis=1)[:, :k]  # (draws, k) random routes
        take = np.zeros((RANDOM_DRAWS, n, 1), dtype=bool)
        np.put_along_axis(take, picks[..., None], True, axis=1)
        random_metrics = corpus_metrics(np.where(take, L[None], S[None]))  # (draws, 4)
        delta = paired_bootstrap(large, mixed, resamples, seed)
        router_metrics = corpus_metrics(score_matrix(mixed))
        oracle_metrics = corpus_metrics(score_matrix(routed(small, large, oracle_order, k)))
        rows.append({
            "share": share, "large_calls": k,
            "router": {"geometric_mean": round(float(router_metrics[3]), 3), "rougeLsum": round(float(router_metrics[2]), 3)},
            "random": {"geometric_mean": round(float(random_metrics[:, 3].mean()), 3),
                       "geometric_mean_95": [round(float(v), 3) for v in np.percentile(random_metrics[:, 3], [2.5, 97.5])],
                       "rougeLsum": round(float(random_metrics[:, 2].mean()), 3)},
            "oracle": {"geometric_mean": round(float(oracle_metrics[3]), 3), "rougeLsum": round(float(oracle_metrics[2]), 3)},
            "router_vs_all_large": {m: str(delta[m]) for m in ("geometric_mean", "rougeLsum")},
            "within_all_large": bool(delta["geometric_mean"].high >= 0),
        })
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| share to large | router geo. mean | random geo. mean [95% of draws] | oracle geo. mean | router − all-large geo. mean [95% CI] | router R-Lsum | random R-Lsum |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        low, high = r["random"]["geometric_mean_95"]
        lines.append(f"| {r['share']:.0%} | {r['router']['geometric_mean']:.2f} | {r['random']['geometric_mean']:.2f} "
                     f"[{low:.2f}, {high:.2f}] | {r['oracle']['geometric_mean']:.2f} | "
                     f"{r['router_vs_all_large']['geometric_mean']} | {r['router']['rougeLsum']:.2f} | {r['random']['rougeLsum']:.2f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = [100 * r["share"] for r in rows]
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(shares, [r["router"]["geometric_mean"] for r in rows], "o-", label="router")
    axes.plot(shares, [r["random"]["geometric_mean"] for r in rows], "s--", label="random (mean of draws)")
    axes.fill_between(shares, [r["random"]["geometric_mean_95"][0] for r in rows],
                      [r["random"]["geometric_mean_95"][1] for r in rows], alpha=0.15, color="C1")
    axes.plot(shares, [r["oracle"]["geometric_mean"] for r in rows], ":", color="gray", label="oracle")
    axes.set_xlabel("% of queries sent to the large configuration")
    axes.set_ylabel("ROUGE geometric mean")
    axes.set_title(textwrap.fill(title, 80), fontsize=8)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
