"""Strategies: ways to answer a query about a document longer than the model's window."""

from qfocus.strategies import blocks, focus, full, lead, lift, mapreduce, memory, refine, retrieve, route, truncate  # noqa: F401  (registration)
from qfocus.strategies.base import (
    STRATEGIES, OnePromptStrategy, Plan, SinglePromptStrategy, Strategy, Summary, get_strategy, register, strategy_config,
)

__all__ = ["STRATEGIES", "OnePromptStrategy", "Plan", "SinglePromptStrategy", "Strategy", "Summary", "get_strategy", "register",
           "strategy_config"]
