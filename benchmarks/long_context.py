"""Long-context prefill benchmark: peak RSS and prefill time of `ideal` (HyperExpert + memory),
full attention and truncation for documents of 2K-128K random tokens, each in its own process.

    python benchmarks/long_context.py --out benchmarks/results/long_context_cpu.json
    # the same as: qfocus bench long-context --out benchmarks/results/long_context_cpu.json

Every flag of `qfocus bench long-context` is accepted (--lengths, --segment, --window, --full-max,
--model, --device); the JSON holds every row, the target ratios, and a PNG plot is written beside it.
"""

import sys

from qfocus.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "long-context", *sys.argv[1:]]))
