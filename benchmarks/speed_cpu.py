"""Speed on CPU: float32 against the fast path (bf16 where native, batched evaluation), one run.

    python benchmarks/speed_cpu.py --out benchmarks/results/speed_cpu.json
    # the same as: qfocus bench speed --out benchmarks/results/speed_cpu.json

Every flag of `qfocus bench speed` is accepted (--lengths, --decode-tokens, --examples, --batch); the
JSON holds every measurement and the same-run ratios, and a PNG of the ratios is written beside it.
Run it alone: two processes on two cores slow each other far more than 2x.
"""

import sys

from qfocus.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "speed", *sys.argv[1:]]))
