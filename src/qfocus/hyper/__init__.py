"""Query-aware HyperExpert (IDEAL, DESIGN §1): query-generated LoRA / prompt / parallel-adapter
parameters, and their static baselines, attached to a Hugging Face causal LM by wrapping."""

from qfocus.hyper.config import METHODS, HyperConfig
from qfocus.hyper.expert import HyperExpert, attach, load_adapter, model_identity

__all__ = ["METHODS", "HyperConfig", "HyperExpert", "attach", "load_adapter", "model_identity"]
