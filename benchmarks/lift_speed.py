"""What LIFT's adaptation costs per 1K document tokens, and what a cache hit costs, on this machine.

The document is a real QMSum validation meeting cut to --tokens tokens. For each adapter (LoRA,
Gated Memory) and each kind of sample (plain segments; contextualised: head/tail context and the
recite instruction before each segment), at the --window the answers use: a whole adaptation with
the default schedule (3 epochs, segments of window/4 every 3/8 of a segment) when --full, else
--steps steps, giving seconds per step and seconds per 1K document tokens for the full schedule.
Then, with one cached adaptation: `lift` answering a second query (cache hit: load + attach +
answer) next to `truncate` answering the same query, in the same run.

    python benchmarks/lift_speed.py --out benchmarks/results/lift_speed_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=2048, help="document tokens (default: 2048)")
    parser.add_argument("--window", type=int, default=2048, help="the answering window (default: 2048)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per setting when not --full (default: 6)")
    parser.add_argument("--full", action="store_true", help="run every setting's whole schedule")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    os.environ["QFOCUS_CACHE"] = tempfile.mkdtemp(prefix="lift-bench-")  # a cold cache, not the user's

    from qfocus.config import GenerationConfig, LiftConfig, SummarizeConfig
    from qfocus.data import load_dataset
    from qfocus.lift.adapt import adapt
    from qfocus.lift.segments import RECITE, training_samples
    from qfocus.models import load_model
    from qfocus.prompts import ELISION, PromptBuilder
    from qfocus.strategies import get_strategy

    lm = load_model("smollm2", dtype=args.dtype)
    examples = load_dataset("qmsum", "val")
    builder = PromptBuilder(lm.tokenizer)
    ids = builder.encode(examples[0].document)[: args.tokens]
    document = lm.tokenizer.decode(ids)
    ids = builder.encode(document)
    segment, stride, context = args.window // 4, round(args.window // 4 * 0.375), args.window // 2
    rows = []
    for adapter in ("lora", "gated"):
        for contextualised in (False, True):
            samples = training_samples(ids, segment, stride, context=context if contextualised else 0,
                                       elision=builder.encode(ELISION), instruction=builder.encode(RECITE),
                                       rng=random.Random(0))
            config = LiftConfig(lift_adapter=adapter, lift_steps=None if args.full else args.steps)
            adapt(lm.model, samples[:1], LiftConfig(lift_adapter=adapter, lift_steps=1))  # warm-up
            adapted = adapt(lm.model, samples, config)
            per_step = adapted.seconds / adapted.steps
            schedule = 3 * len(samples)
            rows.append({"adapter": adapter, "contextualised": contextualised, "samples": len(samples),
                         "tokens_per_sample": len(samples[0].input_ids), "steps_timed": adapted.steps,
                         "seconds_timed": round(adapted.seconds, 2), "seconds_per_step": round(per_step, 3),
                         "schedule_steps": schedule,
                         "seconds_per_1k_document_tokens": round(per_step * schedule / len(ids) * 1000, 1),
                         "measured_whole_schedule": adapted.steps == schedule,
                         "loss_start": round(adapted.loss_start, 3), "loss_end": round(adapted.loss_end, 3)})
            print(json.dumps(rows[-1]), flush=True)

    generation = GenerationConfig(max_new_tokens=64)
    query = examples[0].query
    lift = get_strategy("lift", SummarizeConfig(strategy="lift", context_window=args.window, generation=generation,
                                               lift=LiftConfig(lift_steps=2)))
    truncate = get_strategy("truncate", SummarizeConfig(context_window=args.window, generation=generation))
    miss = lift.summarize(lm, document, query)
    hit = lift.summarize(lm, document, query)
    plain = truncate.summarize(lm, document, query)
    answers = {"lift_first_query_seconds": miss.seconds, "lift_cache_hit_seconds": hit.seconds,
               "truncate_seconds": plain.seconds, "cache_hit_over_truncate": round(hit.seconds / plain.seconds, 3),
               "answer_tokens": {"lift": hit.answer_tokens, "truncate": plain.answer_tokens}}
    print(json.dumps(answers), flush=True)
    report = {"benchmark": "lift_speed", "machine": platform.processor() or platform.machine(),
              "threads": torch.get_num_threads(), "dtype": str(next(lm.model.parameters()).dtype),
              "document_tokens": len(ids), "window": args.window, "segment": segment, "stride": stride,
              "context": context, "adaptation": rows, "answering": answers,
              "command": f"python benchmarks/lift_speed.py --out {args.out} --tokens {args.tokens} --window {args.window}"
                         + (" --full" if args.full else f" --steps {args.steps}")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
