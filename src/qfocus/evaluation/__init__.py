"""Evaluation: ROUGE as the query-focused summarisation papers report it."""

from qfocus.evaluation.rouge import METRICS, aggregate, rouge, sentence_lines

__all__ = ["METRICS", "aggregate", "rouge", "sentence_lines"]
