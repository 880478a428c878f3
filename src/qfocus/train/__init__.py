"""Training adapters on query-focused summarisation data (`qfocus train`).

`train` (torch, accelerate) loads on first use, so the CLI can build its flags from `TrainConfig`
without importing torch.
"""

from qfocus.train.config import DEFAULT_LR, FocusTrainConfig, TrainConfig


def __getattr__(name: str):
    if name == "train":
        from qfocus.train.loop import train

        return train
    if name == "train_focus":
        from qfocus.train.focus import train_focus

        return train_focus
    raise AttributeError(f"module 'qfocus.train' has no attribute {name!r}")


__all__ = ["DEFAULT_LR", "FocusTrainConfig", "TrainConfig", "train", "train_focus"]
