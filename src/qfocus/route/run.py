"""`qfocus route fit` and `qfocus route curve`: train a router on scored pairs of one split, and draw
its cost–quality curve on another.

Both read two evaluation runs of the same examples (`qfocus compare --strategies SMALL,LARGE` writes
them side by side): the small and the large configuration's per-example ROUGE.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from qfocus.errors import InputError


@dataclass
class RouteFitConfig:
    """Which scored pairs to train the router on."""

    data: str = field(default="qmsum", metadata={"help": "Dataset the runs scored: qmsum, squality or covidet."})
    split: str = field(default="train", metadata={"help": "Split the runs scored (train: never tune on test)."})
    data_dir: str | None = field(default=None, metadata={"help": "Folder with the dataset's native files; default ../shared/data/<name>."})
    small_run: str = field(default="runs/route/train/truncate-adapter-none", metadata={"help": "Evaluation run folder of the small configuration."})
    large_run: str = field(default="runs/route/train/truncate", metadata={"help": "Evaluation run folder of the large configuration, on the same examples."})
    small: str = field(default="truncate:adapter=none", metadata={"help": "Strategy spec of the small configuration (what `--strategy route` runs for it)."})
    large: str = field(default="truncate", metadata={"help": "Strategy spec of the large configuration."})
    embedding: bool = field(default=True, metadata={"help": "Use the query's embedding among the features (else only lengths and retrieval scores)."})
    out: str = field(default="runs/route/router.json", metadata={"help": "Where to write the router."})

    def __post_init__(self) -> None:
        if self.split == "test":
            raise InputError("route fit reads a test split: train the router on train (test is for final numbers only)")
        from qfocus.config import SummarizeConfig
        from qfocus.strategies import strategy_config

        for spec in (self.small, self.large):  # a typo fails now, not when the router is first used
            if strategy_config(SummarizeConfig(), spec).strategy == "route":
                raise InputError(f"'{spec}' is route itself: name the small and the large strategy")


@dataclass
class RouteCurveConfig:
    """Which scored pairs to draw the router's curve on."""

    data: str = field(default="qmsum", metadata={"help": "Dataset the runs scored."})
    split: str = field(default="val", metadata={"help": "Split the runs scored."})
    data_dir: str | None = field(default=None, metadata={"help": "Folder with the dataset's native files; default ../shared/data/<name>."})
    router: str = field(default="runs/route/router.json", metadata={"help": "The router `qfocus route fit` wrote."})
    small_run: str = field(default="runs/route/val/truncate-adapter-none", metadata={"help": "Evaluation run folder of the small configuration."})
    large_run: str = field(default="runs/route/val/truncate", metadata={"help": "Evaluation run folder of the large configuration, on the same examples."})
    resamples: int = field(default=1000, metadata={"help": "Bootstrap resamples for the intervals against all-large."})
    out: str = field(default="runs/route/curve", metadata={"help": "Folder for curve.json, curve.md and curve.png."})

    def __post_init__(self) -> None:
        if self.resamples < 100:
            raise InputError(f"resamples is {self.resamples}: pass at least 100, such as 1000")


def pair_features(data: str, split: str, data_dir: str | None, ids: list[str], embedding: bool,
                  on_pair: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(n, d) router features of the examples `ids` of a split."""
    from qfocus.data import load_dataset
    from qfocus.route.features import features

    examples = {e.id: e for e in load_dataset(data, split, data_dir)}
    missing = [i for i in ids if i not in examples]
    if missing:
        raise InputError(f"{data}/{split} has no example {missing[0]}: pass the dataset and split the runs scored")
    rows = []
    for done, i in enumerate(ids, 1):
        rows.append(features(examples[i].query, examples[i].document, embedding))
        if on_pair is not None:
            on_pair(done, len(ids))
    return np.stack(rows)


def fit_router(config: RouteFitConfig, on_pair=None):
    from qfocus.route.curve import gains
    from qfocus.route.features import feature_names
    from qfocus.route.router import fit
    from qfocus.route.runs import pair_scores, read_scores

    scored = read_scores(config.small_run), read_scores(config.large_run)
    ids, small, large = pair_scores(*scored, f"{config.small_run} and {config.large_run}")
    X = pair_features(config.data, config.split, config.data_dir, ids, config.embedding, on_pair)
    router = fit(X, gains(small, large), feature_names(config.embedding), config.small, config.large, config.embedding,
                 info={"data": f"{config.data}/{config.split}", "small_run": config.small_run, "large_run": config.large_run,
                       "scored": [len(s) for s in scored]})
    router.save(config.out)
    return router


def draw_curve(config: RouteCurveConfig, on_pair=None) -> dict:
    from qfocus.route.curve import markdown, plot, routing_curve
    from qfocus.route.router import load_router
    from qfocus.route.runs import paired

    router = load_router(config.router)
    ids, small, large = paired(config.small_run, config.large_run)
    predicted = router.predict(pair_features(config.data, config.split, config.data_dir, ids, router.embedding, on_pair))
    rows = routing_curve(small, large, predicted, resamples=config.resamples)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{config.data}/{config.split}, n = {len(ids)}: {router.small} (small) vs {router.large} (large)"
    # the threshold each share gets from the router's training queries, and the share it gives here
    realised = {str(r["share"]): round(float(np.mean(predicted >= router.threshold(r["share"]))), 3) for r in rows}
    result = {"title": title, "n": len(ids), "router": config.router, "small": router.small, "large": router.large,
              "rows": rows, "share_realised_with_training_thresholds": realised, "config": asdict(config)}
    (out / "curve.json").write_text(json.dumps(result, indent=1))
    (out / "curve.md").write_text(f"# Routing curve: {title}\n\n{markdown(rows)}\n")
    plot(rows, out / "curve.png", title)
    return result
