"""End to end: `qfocus summarize` with the real embedded model on the bundled example meeting.

Slow (about a minute on 2 CPU cores, plus a one-time GGUF conversion); CI runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[1] / "src" / "qfocus" / "examples" / "water_board_meeting.md"


@pytest.mark.slow
def test_summarize_example_with_embedded_model():
    query = "What did the board decide about the Millbrook pumping station?"
    completed = subprocess.run(
        [sys.executable, "-m", "qfocus", "summarize", str(EXAMPLE), "--query", query, "--json"],
        capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout)
    # The example is longer than SmolLM2's 8,192-token window, so truncate had to drop its middle.
    assert result["document_tokens"] > 8192 and result["truncated_tokens"] > 0
    assert result["prompt_tokens"] + 128 <= 8192
    words = [w.strip(".,;:!?\"'()*") for w in result["summary"].lower().split()]
    assert len(words) >= 8, result["summary"]
    # On topic: it speaks of what the query asks about.
    assert {"board", "decided", "decision", "millbrook", "pump", "pumping", "station"} & set(words), result["summary"]
    # Not a loop: most 4-grams are new, and no 8-word run comes back (greedy decoding without the
    # repetition penalty fails both on this document).
    fourgrams = list(zip(*(words[i:] for i in range(4))))
    assert len(set(fourgrams)) >= 0.8 * len(fourgrams), result["summary"]
    eightgrams = Counter(zip(*(words[i:] for i in range(8))))
    assert max(eightgrams.values()) == 1, result["summary"]
