"""Would a router learn more from more pairs? Cross-fitting on the scored validation pairs: the
queries are split by meeting into K folds, a router is fitted on the other folds' pairs, and each
query is routed by a router that never saw its meeting. The curve of these held-out predictions
says what a router trained on ~(K-1)/K x 272 pairs could do; it is a diagnostic of the method, not a
number to tune on (validation is the split it is drawn on).

    python benchmarks/route_crossfit.py benchmarks/results/gpu/training_curve/c2k-qmsum-all benchmarks/results/synth_route_cpu/crossfit.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from qfocus.route.curve import gains, markdown, routing_curve
from qfocus.route.features import feature_names
from qfocus.route.router import fit
from qfocus.route.run import pair_features
from qfocus.route.runs import paired

FOLDS = 4


def main(runs: str, out: str) -> None:
    ids, small, large = paired(Path(runs) / "truncate-adapter-none", Path(runs) / "truncate")
    meetings = np.array([i.rsplit("-", 2)[0] for i in ids])  # val-12-specific-3 -> val-12
    order = sorted(set(meetings), key=lambda m: int(m.split("-")[1]))
    fold_of = {m: k % FOLDS for k, m in enumerate(order)}
    folds = np.array([fold_of[m] for m in meetings])
    X = pair_features("qmsum", "val", None, ids, True)
    y = gains(small, large)
    result = {"n": len(ids), "folds": FOLDS, "variants": {}}
    for name, columns in (("embedding", slice(None)), ("no-embedding", slice(0, len(feature_names(False))))):
        held_out = np.zeros(len(ids))
        alphas = []
        for k in range(FOLDS):
            train, test = folds != k, folds == k
            router = fit(X[train][:, columns], y[train], feature_names(name == "embedding"), "small", "large")
            held_out[test] = router.predict(X[test][:, columns])
            alphas.append(router.alpha)
        rows = routing_curve(small, large, held_out)
        result["variants"][name] = {"alphas": alphas, "correlation": round(float(np.corrcoef(held_out, y)[0, 1]), 3),
                                    "rows": rows}
        print(f"## {name}: alphas {alphas}, correlation of held-out prediction with the true gain "
              f"{result['variants'][name]['correlation']}\n\n{markdown(rows)}\n")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
