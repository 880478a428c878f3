"""Time and peak RSS of `qfocus summarize` on CPU: the bundled example and QMSum validation meetings.

Each case runs the real CLI in a fresh process (`python -m qfocus summarize ... --json`), so the
figures include model loading, exactly what a user waits for. Peak RSS is the child's own
`ru_maxrss` (os.wait4). The baseline, measured in the same run, is the same command on a short
document (the example's first 300 words): every case is also reported as a ratio to it.

    python benchmarks/summarize_cpu.py --out benchmarks/results/summarize_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "src" / "qfocus" / "examples" / "water_board_meeting.md"
EXAMPLE_QUERY = "What did the board decide about the Millbrook pumping station?"


def run_case(name: str, document: str, query: str, extra: list[str]) -> dict:
    """One `qfocus summarize` process: wall time, peak RSS, and its JSON output."""
    from qfocus.bench.process import run_child

    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as file:
        file.write(document)
    child = run_child([sys.executable, "-m", "qfocus", "summarize", file.name, "--query", query, "--json", *extra])
    os.unlink(file.name)
    if child.returncode:
        raise SystemExit(f"{name} failed: {child.stderr.strip().splitlines()[-1]}")
    wall, peak = child.wall_s, child.peak_rss_mb
    result = json.loads(child.stdout)
    row = {"case": name, "wall_s": round(wall, 2), "peak_rss_mb": round(peak, 1), **result}
    print(f"{name:32s} {result['document_tokens']:>7} doc tok {result['prompt_tokens']:>6} prompt tok "
          f"{wall:7.1f} s {peak:8.0f} MB  {result['summary'][:70]!r}", flush=True)
    return row


def qmsum_cases(data_dir: Path, count: int, target_tokens: int) -> list[tuple[str, str, str]]:
    """`count` validation meetings closest to `target_tokens` tokens, each with its first specific query."""
    from transformers import AutoTokenizer

    from qfocus.data import read_qmsum
    from qfocus.models import resolve_checkpoint

    tokenizer = AutoTokenizer.from_pretrained(resolve_checkpoint("smollm2"))
    meetings: dict[str, tuple[str, str]] = {}
    for example in read_qmsum(data_dir / "val.jsonl"):
        meeting = example.id.rsplit("-", 2)[0]
        if meeting not in meetings or "-specific-" in example.id and "-specific-" not in meetings[meeting][2]:
            meetings[meeting] = (example.document, example.query, example.id)
    sized = sorted(meetings.values(), key=lambda m: abs(len(tokenizer(m[0])["input_ids"]) - target_tokens))
    return [(f"qmsum {example_id}", document, query) for document, query, example_id in sized[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "qmsum")
    parser.add_argument("--meetings", type=int, default=3, help="QMSum validation meetings to run")
    parser.add_argument("--target-tokens", type=int, default=10_000, help="pick meetings closest to this length")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "summarize_cpu.json")
    parser.add_argument("extra", nargs="*", help="extra flags for qfocus summarize (after --)")
    args = parser.parse_args()

    from qfocus.models import resolve_checkpoint

    resolve_checkpoint("smollm2")  # convert once, outside the timed runs
    example = EXAMPLE.read_text(encoding="utf-8")
    rows = [run_case("baseline: example, first 300 words", " ".join(example.split()[:300]), EXAMPLE_QUERY, args.extra)]
    rows.append(run_case("example: water board meeting", example, EXAMPLE_QUERY, args.extra))
    for name, document, query in qmsum_cases(args.data_dir, args.meetings, args.target_tokens):
        rows.append(run_case(name, document, query, args.extra))
    base = rows[0]
    for row in rows:
        row["wall_ratio_to_baseline"] = round(row["wall_s"] / base["wall_s"], 2)
        row["rss_ratio_to_baseline"] = round(row["peak_rss_mb"] / base["peak_rss_mb"], 2)
    import torch
    import transformers

    report = {
        "command": "python benchmarks/summarize_cpu.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
                    "torch": torch.__version__, "transformers": transformers.__version__},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
