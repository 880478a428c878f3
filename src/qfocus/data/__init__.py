"""Query-focused summarisation datasets in their native formats, read from the user's own copy."""

from qfocus.data.example import Example
from qfocus.data.qmsum import read_qmsum

__all__ = ["Example", "read_qmsum"]
