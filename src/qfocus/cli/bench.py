"""`qfocus bench NAME`: run a packaged benchmark and write its JSON report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qfocus.bench.long_context import WAYS
from qfocus.bench.speed import PARTS

EXAMPLES = """\
examples:
  qfocus bench adapters --out adapters.json                      # CPU, batch 4 x 1,024 tokens
  qfocus bench adapters --device cuda --batch 8 --out gpu.json   # on a GPU, bf16
  qfocus bench speed --out speed.json                            # float32 vs bf16 and batched eval
  qfocus bench passkey --out passkey.json                        # find a planted key in 4K-32K tokens
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
    adapters.add_argument("--model", default="smollm2", help="embedded model name, checkpoint folder, or a weightless "
                          "shape such as random:llama-2-7b (timing only) (default: smollm2)")
    adapters.add_argument("--batch", type=int, default=4, help="sequences per step (default: 4)")
    adapters.add_argument("--length", type=int, default=1024, help="tokens per sequence (default: 1024)")
    adapters.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up (default: 3)")
    adapters.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    adapters.set_defaults(run=run_adapters)
    long = benches.add_parser(
        "long-context", help="prefill time and peak memory against document length: ideal, qllm, stream, focus vs full attention",
        description="Prefill time and peak RSS for documents of 2K to 128K tokens: the ideal strategy's reading "
                    "(HyperExpert + segment-recurrent memory attention), the model's own full attention (up to "
                    "--full-max), truncation to --window, qllm's and stream's KV blocks, and focus's chunks with every "
                    "chunk's cache kept (focus) or only the candidates (focus-bounded) (with the bytes each "
                    "stores per token), each in its own process. Writes JSON and a PNG plot.",
        epilog="examples:\n  qfocus bench long-context --out benchmarks/results/long_context_cpu.json\n"
               "  qfocus bench long-context --lengths 2048 4096 --out quick.json\n"
               "  qfocus bench long-context --ways focus-bounded --window 2048 --lengths 65536 131072 --out focus.json\n"
               "  qfocus bench long-context --device cuda --model random:llama-2-7b --ways ideal full \\\n"
               "      --lengths 4096 16384 131072 1048576 --out long_context_cuda.json   # a 7B shape on a GPU",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    long.add_argument("--out", type=Path, required=True, help="where to write the JSON report (the PNG goes beside it)")
    long.add_argument("--model", default="smollm2", help="embedded model name, checkpoint folder, or a weightless shape "
                      "such as random:llama-2-7b (timing only) (default: smollm2)")
    long.add_argument("--budget-gb", type=float, default=24.0,
                      help="on a GPU, report the longest document each way reads within this much memory (default: 24)")
    long.add_argument("--lengths", type=int, nargs="+", default=None, help="document lengths in tokens (default: 2K ... 128K)")
    long.add_argument("--segment", type=int, default=1024, help="segment length S (default: 1024)")
    long.add_argument("--window", type=int, default=8192, help="tokens `truncate` keeps (default: 8192)")
    long.add_argument("--full-max", type=int, default=16384, help="longest document for full attention (default: 16384)")
    long.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    long.add_argument("--ways", nargs="+", choices=WAYS, default=None,
                      help="which readings to measure (default: all)")
    long.set_defaults(run=run_long_context)
    speed = benches.add_parser(
        "speed", help="float32 vs the fast path (bf16, batched evaluation) on this machine",
        description="Matmul GFLOPS, prefill tokens/s (2K, 8K), greedy decode tokens/s at 2K context (transformers' "
                    "`generate` with the model's own weights against qfocus's decoding loop with --decode-weights "
                    "auto), evaluation examples/s one at a time vs batched (and whether the answers are the same), "
                    "`qfocus summarize` on a ~10K-token meeting in a fresh process (--decode-weights full and auto), "
                    "and an IDEAL-LoRA training step (batch 4 x 1,024) with and without bf16 autocast: float32 and "
                    "bfloat16 side by side in one run, with ratios. Needs the embedded SmolLM2 and the QMSum "
                    "validation split.",
        epilog="examples:\n  qfocus bench speed --out benchmarks/results/speed_cpu.json\n"
               "  qfocus bench speed --examples 8 --lengths 2048 --out quick.json\n"
               "  qfocus bench speed --parts decode summarize --out decode.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    speed.add_argument("--out", type=Path, required=True, help="where to write the JSON report (the PNG goes beside it)")
    speed.add_argument("--lengths", type=int, nargs="+", default=[2048, 8192], help="prefill lengths in tokens (default: 2048 8192)")
    speed.add_argument("--decode-tokens", type=int, default=64, help="greedy tokens timed after the prompt (default: 64)")
    speed.add_argument("--examples", type=int, default=16, help="QMSum validation examples per evaluation (default: 16)")
    speed.add_argument("--batch", type=int, default=8, help="batch size of the batched evaluation (default: 8)")
    speed.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                       help=f"which measurements to run (default: all: {' '.join(PARTS)})")
    speed.set_defaults(run=run_speed)
    passkey = benches.add_parser(
        "passkey", help="find a pass key planted at depths 0-100%% of 4K-128K tokens of filler, per strategy",
        description="A five-digit pass key is planted at each --depths share of filler text (the bundled example's "
                    "sentences, shuffled) of each --lengths tokens, and each strategy is asked for it; an answer "
                    "counts when it holds the key. Writes JSON (accuracy per strategy and length, every answer) and a "
                    "heat map PNG.",
        epilog="examples:\n  qfocus bench passkey --out benchmarks/results/passkey_cpu.json\n"
               "  qfocus bench passkey --lengths 65536 131072 --depths 0.5 --strategies qllm stream --out long.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    passkey.add_argument("--out", type=Path, required=True, help="where to write the JSON report (the PNG goes beside it)")
    passkey.add_argument("--model", default="smollm2", help="embedded model name or checkpoint folder (default: smollm2)")
    passkey.add_argument("--lengths", type=int, nargs="+", default=None, help="filler lengths in tokens (default: 4096 8192 16384 32768)")
    passkey.add_argument("--depths", type=float, nargs="+", default=None, help="where the key sits, 0 = start, 1 = end (default: 0 0.25 0.5 0.75 1)")
    passkey.add_argument("--strategies", nargs="+", default=None, help="strategies to ask, each with optional settings as in `qfocus compare` "
                         "(lift:lift_steps=30) (default: truncate retrieve stream qllm infini)")
    passkey.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16 (default: auto)")
    passkey.add_argument("--context-window", type=int, default=None,
                         help="tokens of prompt + answer for truncate and retrieve (default: the model's own)")
    passkey.set_defaults(run=run_passkey)


def run_adapters(args: argparse.Namespace) -> int:
    from qfocus.bench.adapters import run
    from qfocus.errors import InputError

    if min(args.batch, args.length, args.steps) < 1:
        raise InputError("--batch, --length and --steps must be positive")
    report = run(args.out, model=args.model, batch=args.batch, length=args.length, steps=args.steps, device=args.device)
    print(f"wrote {args.out} ({len(report['rows'])} methods)")
    return 0


def run_long_context(args: argparse.Namespace) -> int:
    from qfocus.bench.long_context import LENGTHS, WAYS, run
    from qfocus.errors import InputError

    lengths = tuple(args.lengths or LENGTHS)
    if min(*lengths, args.segment, args.window) < 1:
        raise InputError("--lengths, --segment and --window must be positive")
    report = run(args.out, model=args.model, lengths=lengths, segment=args.segment, window=args.window,
                 full_max=args.full_max, device=args.device, plot=args.out.with_suffix(".png"),
                 ways=tuple(args.ways or WAYS), budget_gb=args.budget_gb,
                 on_row=lambda row: print(json.dumps(row), flush=True))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}: {report['ratios']}")
    return 0


def run_speed(args: argparse.Namespace) -> int:
    from qfocus.bench.speed import run
    from qfocus.errors import InputError

    if min(*args.lengths, args.decode_tokens, args.examples, args.batch) < 1:
        raise InputError("--lengths, --decode-tokens, --examples and --batch must be positive")
    report = run(args.out, lengths=tuple(args.lengths), decode_tokens=args.decode_tokens, examples=args.examples,
                 batch=args.batch, parts=tuple(args.parts), on_row=lambda row: print(json.dumps(row), flush=True))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}: {report['ratios']}")
    return 0


def run_passkey(args: argparse.Namespace) -> int:
    from qfocus.bench.passkey import DEPTHS, LENGTHS, STRATEGIES, run
    from qfocus.errors import InputError
    from qfocus.strategies import STRATEGIES as KNOWN

    lengths, depths = tuple(args.lengths or LENGTHS), tuple(args.depths or DEPTHS)
    strategies = tuple(args.strategies or STRATEGIES)
    if min(lengths) < 256:
        raise InputError("--lengths must be at least 256 tokens")
    if not all(0 <= d <= 1 for d in depths):
        raise InputError("--depths are shares of the document: pass values in [0, 1]")
    unknown = sorted({spec.split(":")[0] for spec in strategies} - set(KNOWN))  # name[:key=value...]
    if unknown:
        raise InputError(f"unknown strategies {', '.join(unknown)}: use some of {', '.join(sorted(KNOWN))}")
    report = run(args.out, model=args.model, lengths=lengths, depths=depths, strategies=strategies, dtype=args.dtype,
                 context_window=args.context_window, plot=args.out.with_suffix(".png"), on_row=lambda row: print(json.dumps(row), flush=True))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}: {report['accuracy']}")
    return 0
