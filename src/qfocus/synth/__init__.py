"""Synthetic query-focused training data (DESIGN §13): `qfocus synth`.

    config = SynthConfig(data="qmsum", strategy="instructds", budget=200, out="runs/synth/qmsum.jsonl")
    totals = synthesize(config)          # then: qfocus train --data qmsum --data-file runs/synth/qmsum.jsonl

`config` the settings, `teacher` the model and its ledger of calls and tokens, `filters` InstructDS's
query filter, `steps` the four strategies on one seed item, `run` the resumable loop.
"""

from qfocus.synth.config import STRATEGIES, SynthConfig
from qfocus.synth.run import progress_path, synthesize, totals
from qfocus.synth.teacher import Ledger, Teacher

__all__ = ["STRATEGIES", "Ledger", "SynthConfig", "Teacher", "progress_path", "synthesize", "totals"]
