"""Pass-key retrieval per strategy: accuracy per (document length, depth), JSON + heat map.

    python benchmarks/passkey.py --out benchmarks/results/passkey_cpu.json
    # the same as: qfocus bench passkey --out benchmarks/results/passkey_cpu.json

Every flag of `qfocus bench passkey` is accepted (--lengths, --depths, --strategies, --model, --dtype).
"""

import sys

from qfocus.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "passkey", *sys.argv[1:]]))
