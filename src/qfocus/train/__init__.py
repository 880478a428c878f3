"""Training adapters on query-focused summarisation data (`qfocus train`)."""

from qfocus.train.config import DEFAULT_LR, TrainConfig
from qfocus.train.loop import train

__all__ = ["DEFAULT_LR", "TrainConfig", "train"]
