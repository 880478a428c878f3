"""Peak RSS of one `focus` answer on the longest of the 40 spread QMSum val queries (docs/results.md,
"FocusLLM", bounded memory): float32, 2,048 window, 8 answer tokens.

    python benchmarks/focus_peak_rss.py frozen 8     # --focus-decode, --focus-batch
    MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 python benchmarks/focus_peak_rss.py frozen 8
"""

import sys

from qfocus.config import FocusConfig, GenerationConfig, SummarizeConfig
from qfocus.evaluation.peak import PeakRSS, rss_mb
from qfocus.evaluation.run import EvalConfig, load_examples
from qfocus.models import load_model
from qfocus.strategies import get_strategy


def main() -> None:
    mode, batch = sys.argv[1], int(sys.argv[2])
    example = max(load_examples(EvalConfig(data="qmsum", split="val", limit=40)), key=lambda e: len(e.document))
    lm = load_model("smollm2", dtype="float32")
    print("loaded", round(rss_mb()), "MB", flush=True)
    config = SummarizeConfig(adapter=None, context_window=2048, dtype="float32",
                             generation=GenerationConfig(max_new_tokens=8),
                             focus=FocusConfig(focus_decode=mode, focus_batch=batch))
    with PeakRSS() as peak:
        summary = get_strategy("focus", config).summarize(lm, example.document, example.query)
    print(f"{mode} batch {batch}: {summary.prompt_tokens} prompt tokens, peak {round(peak.mb)} MB, {summary.seconds} s")


if __name__ == "__main__":
    main()
