"""`qfocus bench NAME`: run a packaged benchmark and write its JSON report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EXAMPLES = """\
examples:
  qfocus bench adapters --out adapters.json                      # CPU, batch 4 x 1,024 tokens
  qfocus bench adapters --device cuda --batch 8 --out gpu.json   # on a GPU, bf16
  qfocus bench speed --out speed.json                            # float32 vs bf16 and batched eval
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="measure time and memory (writes JSON)", epilog=EXAMPLES,
        description="Run a packaged benchmark; every figure is also a ratio to a baseline measured in the same run.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    benches = parser.add_subparsers(title="benchmarks", metavar="NAME", required=True, parser_class=type(parser))
    adapters = benches.add_parser(
        "adapters", help="forward+backward time and peak memory of each adapter method, vs static LoRA",
        description="Forward+backward time and peak memory of base, each static method and each IDEAL method, "
                    "each in its own process, as ratios to static LoRA measured in the same run.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    adapters.add_argument("--out", type=Path, required=True, help="where to write the JSON report")
    adapters.add_argument("--model", default="smollm2", help="embedded model name or checkpoint folder (default: smollm2)")
    adapters.add_argument("--batch", type=int, default=4, help="sequences per step (default: 4)")
    adapters.add_argument("--length", type=int, default=1024, help="tokens per sequence (default: 1024)")
    adapters.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up (default: 3)")
    adapters.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    adapters.set_defaults(run=run_adapters)
    long = benches.add_parser(
        "long-context", help="prefill time and peak memory against document length: ideal vs full attention",
        description="Prefill time and peak RSS for documents of 2K to 128K tokens: the ideal strategy's reading "
                    "(HyperExpert + segment-recurrent memory attention), the model's own full attention (up to "
                    "--full-max) and truncation to --window, each in its own process. Writes JSON and a PNG plot.",
        epilog="examples:\n  qfocus bench long-context --out benchmarks/results/long_context_cpu.json\n"
               "  qfocus bench long-context --lengths 2048 4096 --out quick.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    long.add_argument("--out", type=Path, required=True, help="where to write the JSON report (the PNG goes beside it)")
    long.add_argument("--model", default="smollm2", help="embedded model name or checkpoint folder (default: smollm2)")
    long.add_argument("--lengths", type=int, nargs="+", default=None, help="document lengths in tokens (default: 2K ... 128K)")
    long.add_argument("--segment", type=int, default=1024, help="segment length S (default: 1024)")
    long.add_argument("--window", type=int, default=8192, help="tokens `truncate` keeps (default: 8192)")
    long.add_argument("--full-max", type=int, default=16384, help="longest document for full attention (default: 16384)")
    long.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    long.set_defaults(run=run_long_context)
    speed = benches.add_parser(
        "speed", help="float32 vs the fast path (bf16, batched evaluation) on this machine",
        description="Matmul GFLOPS, prefill tokens/s (2K, 8K), greedy decode tokens/s at 2K context, evaluation "
                    "examples/s one at a time vs batched (and whether the answers are the same), `qfocus "
                    "summarize` on a ~10K-token meeting in a fresh process, and an IDEAL-LoRA training step "
                    "(batch 4 x 1,024) with and without bf16 autocast: float32 and bfloat16 side by side in "
                    "one run, with ratios. Needs the embedded SmolLM2 and the QMSum validation split.",
        epilog="examples:\n  qfocus bench speed --out benchmarks/results/speed_cpu.json\n"
               "  qfocus bench speed --examples 8 --lengths 2048 --out quick.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    speed.add_argument("--out", type=Path, required=True, help="where to write the JSON report (the PNG goes beside it)")
    speed.add_argument("--lengths", type=int, nargs="+", default=[2048, 8192], help="prefill lengths in tokens (default: 2048 8192)")
    speed.add_argument("--decode-tokens", type=int, default=64, help="greedy tokens timed after the prompt (default: 64)")
    speed.add_argument("--examples", type=int, default=16, help="QMSum validation examples per evaluation (default: 16)")
    speed.add_argument("--batch", type=int, default=8, help="batch size of the batched evaluation (default: 8)")
    speed.set_defaults(run=run_speed)


def run_adapters(args: argparse.Namespace) -> int:
    from qfocus.bench.adapters import run
    from qfocus.errors import InputError

    if min(args.batch, args.length, args.steps) < 1:
        raise InputError("--batch, --length and --steps must be positive")
    report = run(args.out, model=args.model, batch=args.batch, length=args.length, steps=args.steps, device=args.device)
    print(f"wrote {args.out} ({len(report['rows'])} methods)")
    return 0


def run_long_context(args: argparse.Namespace) -> int:
    from qfocus.bench.long_context import LENGTHS, run
    from qfocus.errors import InputError

    lengths = tuple(args.lengths or LENGTHS)
    if min(*lengths, args.segment, args.window) < 1:
        raise InputError("--lengths, --segment and --window must be positive")
    report = run(args.out, model=args.model, lengths=lengths, segment=args.segment, window=args.window,
                 full_max=args.full_max, device=args.device, plot=args.out.with_suffix(".png"),
                 on_row=lambda row: print(json.dumps(row), flush=True))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}: {report['ratios']}")
    return 0


def run_speed(args: argparse.Namespace) -> int:
    from qfocus.bench.speed import run
    from qfocus.errors import InputError

    if min(*args.lengths, args.decode_tokens, args.examples, args.batch) < 1:
        raise InputError("--lengths, --decode-tokens, --examples and --batch must be positive")
    report = run(args.out, lengths=tuple(args.lengths), decode_tokens=args.decode_tokens, examples=args.examples,
                 batch=args.batch, on_row=lambda row: print(json.dumps(row), flush=True))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}: {report['ratios']}")
    return 0
