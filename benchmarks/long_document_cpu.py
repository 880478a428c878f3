"""`qfocus summarize --strategy ideal` on documents many times longer than the model's window: wall
time and peak RSS of the real CLI in a fresh process, against `truncate` on the same documents.

Documents come from your QMSum copy: the longest of the first four validation meetings with its
first query, and that meeting placed in the middle of other validation meetings until the whole is
at least `--long-tokens` tokens (the default 100,000 is over 12 times SmolLM2's 8,192-token window).

    python benchmarks/long_document_cpu.py --adapter runs/qmsum-ideal-lora-memory \
        --out benchmarks/results/long_document_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from summarize_cpu import ROOT, run_case  # noqa: E402


def documents(data_dir: Path, long_tokens: int) -> tuple[str, str, str, dict[str, int]]:
    """(meeting, query, long document, token counts)."""
    from transformers import AutoTokenizer

    from qfocus.data import read_qmsum
    from qfocus.models import resolve_checkpoint

    tokenizer = AutoTokenizer.from_pretrained(resolve_checkpoint("smollm2"))
    count = lambda text: len(tokenizer(text)["input_ids"])  # noqa: E731
    meetings: dict[str, tuple[str, str]] = {}  # meeting → (document, its first query)
    for example in read_qmsum(data_dir / "val.jsonl"):
        meetings.setdefault(example.id.rsplit("-", 2)[0], (example.document, example.query))
    first_four = list(meetings.values())[:4]
    meeting, query = max(first_four, key=lambda m: count(m[0]))
    others = [document for document, _ in meetings.values() if document != meeting]
    before, after, total = [], [], count(meeting)
    while total < long_tokens and others:
        side = before if len(before) <= len(after) else after
        side.append(others.pop(0))
        total += count(side[-1])
    long_document = "\n\n".join([*before, meeting, *after])
    return meeting, query, long_document, {"meeting": count(meeting), "long": count(long_document)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", required=True, help="an adapter trained with --memory (ideal-lora)")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "qmsum")
    parser.add_argument("--long-tokens", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "long_document_cpu.json")
    args = parser.parse_args()

    from qfocus.models import resolve_checkpoint

    resolve_checkpoint("smollm2")
    meeting, query, long_document, tokens = documents(args.data_dir, args.long_tokens)
    ideal = ["--strategy", "ideal", "--adapter", args.adapter]
    rows = [run_case(f"truncate, meeting ({tokens['meeting']} tokens)", meeting, query, []),
            run_case(f"ideal, meeting ({tokens['meeting']} tokens)", meeting, query, ideal),
            run_case(f"truncate, long ({tokens['long']} tokens)", long_document, query, []),
            run_case(f"ideal, long ({tokens['long']} tokens)", long_document, query, ideal)]
    for row in rows:
        row.pop("summary")  # model output about dataset text: kept out of the repository
    by = {row["case"].split(" (")[0]: row for row in rows}
    import torch
    import transformers

    report = {
        "command": "python benchmarks/long_document_cpu.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "transformers": transformers.__version__},
        "model_window": 8192, "tokens": tokens, "rows": rows,
        "ratios": {
            "ideal_rss_long_over_meeting": round(by["ideal, long"]["peak_rss_mb"] / by["ideal, meeting"]["peak_rss_mb"], 3),
            "ideal_rss_long_over_truncate_long": round(by["ideal, long"]["peak_rss_mb"] / by["truncate, long"]["peak_rss_mb"], 3),
            "long_document_over_window": round(tokens["long"] / 8192, 1),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {report['ratios']}")


if __name__ == "__main__":
    main()
