"""The router: ridge regression from pair features to the quality gained by the large configuration.

    router = fit(X_train, gains_train, small="truncate:adapter=none", large="truncate")
    threshold = router.threshold(0.6)            # 60% of the training queries would go to the large one
    large = router.predict(X) >= threshold

Hybrid LLM (seed 001) trains a router on the per-query quality gap between a small and a large model
and sets the share of large calls with a threshold at run time. Here the gap is the large minus the
small configuration's mean of R-1, R-2 and R-Lsum on one query; features are standardised and the
ridge penalty is chosen by leave-one-out error (closed form). The threshold for a share s is the
(1 − s) quantile of the leave-one-out predictions on the training pairs (what the router predicts
for queries it was not fitted on: with more features than pairs, in-sample predictions would
nearly repeat the training gains and set thresholds that new queries do not meet), so a larger
share never sends fewer queries to the large configuration (the routed sets are nested).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from qfocus.errors import InputError

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)


@dataclass
class Router:
    names: list[str]  # feature names
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    alpha: float  # the chosen ridge penalty
    training: list[float]  # leave-one-out predictions on the training pairs, sorted (the share → threshold map)
    small: str  # strategy spec of the small configuration
    large: str
    embedding: bool = True  # whether the query embedding is among the features
    info: dict = field(default_factory=dict)  # where it was trained, leave-one-out error per alpha

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) predicted gains for (n, d) features."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != len(self.weights):
            raise InputError(f"the router takes {len(self.weights)} features, not {X.shape[1]}")
        return ((X - np.array(self.mean)) / np.array(self.scale)) @ np.array(self.weights) + self.bias

    def threshold(self, share: float) -> float:
        """The predicted gain at or above which a query goes to the large configuration, for `share` of
        the training queries to do so (0: none, 1: all)."""
        if not 0 <= share <= 1:
            raise InputError(f"route share is {share}: pass a value in [0, 1]")
        if share == 0:
            return float("inf")
        if share == 1:
            return float("-inf")
        return float(np.quantile(np.array(self.training), 1 - share))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path


def load_router(path: str | Path) -> Router:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no router here: train one with `qfocus route fit --out {path}`")
    try:
        return Router(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as error:
        raise InputError(f"{path} is not a router written by `qfocus route fit` ({error})") from None


def fit(X: np.ndarray, gains: np.ndarray, names: list[str], small: str, large: str, embedding: bool = True,
        alphas: tuple[float, ...] = ALPHAS, info: dict | None = None) -> Router:
    """Ridge regression of `gains` (n,) on `X` (n, d), the penalty chosen by leave-one-out error."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(gains, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(y) or len(y) < 3:
        raise InputError(f"the router needs at least 3 scored pairs with features, not {len(y)}")
    mean, scale = X.mean(0), X.std(0)
    scale[scale < 1e-12] = 1.0  # a constant feature: leave it at zero
    Z, centre = (X - mean) / scale, y.mean()  # (n, d), standardised
    kernel = Z @ Z.T  # (n, n): the ridge solution in its dual form costs n^3, whatever d is
    errors, held_out = {}, {}
    for alpha in alphas:
        inverse = np.linalg.inv(kernel + alpha * np.eye(len(y)))
        hat = kernel @ inverse  # (n, n) hat matrix of the centred fit
        residual = (y - centre) - hat @ (y - centre)
        leverage = np.diag(hat) + 1 / len(y)  # the intercept's share
        loo = residual / (1 - leverage)  # (n,) each pair's error when it is left out
        errors[alpha], held_out[alpha] = float(np.mean(loo ** 2)), y - loo
    alpha = min(errors, key=errors.get)
    weights = Z.T @ np.linalg.solve(kernel + alpha * np.eye(len(y)), y - centre)  # (d,)
    training = np.sort(held_out[alpha])
    return Router(names=list(names), mean=mean.tolist(), scale=scale.tolist(), weights=weights.tolist(),
                  bias=float(centre), alpha=alpha, training=training.tolist(), small=small, large=large,
                  embedding=embedding,
                  info={**(info or {}), "loo_mse": {str(a): round(e, 4) for a, e in errors.items()},
                        "pairs": len(y), "mean_gain": round(float(centre), 4)})
