"""Adapter overhead benchmark; the same as `qfocus bench adapters` (see qfocus/bench/adapters.py).

    python benchmarks/adapters.py --out benchmarks/results/adapters_cpu.json
"""

import sys

from qfocus.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "adapters", *sys.argv[1:]]))
