"""Evaluation: ROUGE as the query-focused summarisation papers report it."""

from qfocus.evaluation.rouge import METRICS, aggregate, rouge, sentence_lines
from qfocus.evaluation.run import EvalConfig, evaluate

__all__ = ["METRICS", "EvalConfig", "aggregate", "evaluate", "rouge", "sentence_lines"]
