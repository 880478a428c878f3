"""Query-aware HyperExpert (IDEAL, DESIGN §1): query-generated LoRA / prompt / parallel-adapter
parameters, and their static baselines, attached to a Hugging Face causal LM by wrapping.

The config is imported eagerly; the torch-backed pieces load on first use, so building the CLI's
flags from `HyperConfig` does not import torch.
"""

from qfocus.hyper.config import METHODS, HyperConfig

_LAZY = {"HyperExpert", "attach", "load_adapter", "model_identity"}  # from qfocus.hyper.expert


def __getattr__(name: str):
    if name in _LAZY:
        from qfocus.hyper import expert

        return getattr(expert, name)
    raise AttributeError(f"module 'qfocus.hyper' has no attribute {name!r}")


__all__ = ["METHODS", "HyperConfig", "HyperExpert", "attach", "load_adapter", "model_identity"]
