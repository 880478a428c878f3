#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite, the slow end-to-end test on the real embedded
# model included. Exits non-zero when a test fails or when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
.venv/bin/python -m pytest "$@"
status=$?
[ "$status" -eq 5 ] && { echo "no tests were collected" >&2; exit 1; }
exit "$status"
