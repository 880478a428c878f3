"""Query-focused Infini-attention: the compressive memory that lets a short-window model read a
document of any length segment by segment (DESIGN §2)."""

from qfocus.memory.compressive import Memory, mix, query_signal, read, sigma, write

__all__ = ["Memory", "mix", "query_signal", "read", "sigma", "write"]
