"""Hybrid small/large routing (DESIGN §13): `qfocus route fit|curve` and the `route` strategy.

    ids, small, large = paired("runs/train/truncate-adapter-none", "runs/train/truncate")
    router = fit(X, gains(small, large), names, small="truncate:adapter=none", large="truncate")

`features` what is known of a pair before answering, `router` the ridge router and its threshold,
`runs` scored evaluation runs, `curve` the cost–quality curve against random routing.
"""

from qfocus.route.router import Router, fit, load_router

__all__ = ["Router", "fit", "load_router"]
