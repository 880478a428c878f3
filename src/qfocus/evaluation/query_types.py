"""Scores per query type, so that one table shows whether a strategy serves both kinds of query.

QMSum's general queries ("Summarize the whole meeting") need coverage of the whole document; its
specific ones need the right passage. The type comes from the example id (`val-3-general-0`,
`val-3-specific-2`); data without typed ids gets no per-type table.
"""

from __future__ import annotations

import numpy as np

from qfocus.evaluation.bootstrap import RESAMPLES, corpus_metrics, paired_bootstrap
from qfocus.evaluation.rouge import METRICS

TYPES = ("general", "specific")


def query_type(example_id: str) -> str | None:
    """`general` or `specific` where the id names one, else None."""
    return next((part for part in str(example_id).split("-") if part in TYPES), None)


def by_type(rows, baseline: int = 0, resamples: int = RESAMPLES) -> list[dict]:
    """Per query type (with at least two types present): n, each run's R-Lsum and geometric mean, and
    its paired interval against `rows[baseline]` on that type's examples. `rows` are `RunRow`s."""
    types = [query_type(i) for i in rows[0].ids]
    present = [t for t in TYPES if t in types]
    if len(present) < 2:
        return []
    table = []
    for kind in present:
        keep = [k for k, t in enumerate(types) if t == kind]
        base = [rows[baseline].per_example[k] for k in keep]
        runs = []
        for i, row in enumerate(rows):
            mine = [row.per_example[k] for k in keep]
            means = corpus_metrics(np.array([[s[m] for m in METRICS] for s in mine], dtype=np.float64))
            delta = None if i == baseline else paired_bootstrap(base, mine, resamples)
            runs.append({"name": row.name, "rougeLsum": float(means[2]), "geometric_mean": float(means[3]),
                         "difference_rougeLsum": None if delta is None else str(delta["rougeLsum"])})
        table.append({"type": kind, "examples": len(keep), "runs": runs})
    return table


def markdown(table: list[dict]) -> str:
    """The `by_type` table: one row per query type, R-Lsum per run with Δ [95% CI] against the baseline."""
    if not table:
        return ""
    names = [r["name"] for r in table[0]["runs"]]
    lines = ["| query type | n | " + " | ".join(f"{n} R-Lsum" for n in names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for entry in table:
        cells = [f"{r['rougeLsum']:.2f}" + (f" ({r['difference_rougeLsum']})" if r["difference_rougeLsum"] else "")
                 for r in entry["runs"]]
        lines.append(f"| {entry['type']} | {entry['examples']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
