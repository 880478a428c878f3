"""Speed on the user's hardware: float32 against the fast path, measured side by side in one run.

  matmul      1024x576 @ 576x1536 (SmolLM2's MLP shape) GFLOPS per dtype
  prefill     tokens/s reading 2K and 8K tokens of a real meeting (`generation.prefill`, chunks of 1,024)
  decode      greedy tokens/s after a 2K-token prompt, with the answer-only repetition penalty:
              (time to 1 + n new tokens − time to 1 new token) / n, median of 3; `plain` = transformers'
              `generate` on a `DynamicCache` with the model's own weights (the path before the fast
              loop), `fast` = `generation.generate` (reserved float32 KV cache, 4-bit packed
              projections where `--decode-weights auto` packs them)
  eval        QMSum validation examples per second, `truncate` at a 2,048-token window, one at a time
              and in batches (`run_examples`); the batched answers are compared with the one-at-a-time ones
  summarize   `qfocus summarize` on a ~10K-token meeting in a fresh process (model load included), with
              the shipped defaults: wall time and peak RSS per dtype, `--decode-weights full` and `auto`
  train       one IDEAL-LoRA training step (forward + backward, batch 4 x 1,024 tokens): fp32 against
              bf16 autocast (what `qfocus train --precision bf16` does on a CPU through accelerate)
Every ratio is against float32 (or batch 1, or the plain decoding path) measured in the same run.
`--parts` runs some of them only.

    qfocus bench speed --out benchmarks/results/speed_cpu.json
    qfocus bench speed --parts decode summarize --out benchmarks/results/speed_decode_cpu.json
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


# torch is imported inside the functions: the CLI builds its parser (with PARTS) without it
DTYPES = ("float32", "bfloat16")
PARTS = ("summarize", "matmul", "train", "prefill", "decode", "eval")


def _timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def matmul_gflops(dtype: torch.dtype, repeats: int = 50) -> float:
    import torch

    a, b = torch.randn(1024, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    for _ in range(5):
        a @ b
    _, seconds = _timed(lambda: [a @ b for _ in range(repeats)])
    return round(2 * 1024 * 576 * 1536 * repeats / seconds / 1e9, 1)


def meeting_ids(tokenizer, tokens: int) -> list[int]:
    """At least `tokens` token ids of real QMSum validation transcript (meetings joined in order)."""
    from qfocus.data import load_dataset

    ids, seen = [], set()
    for example in load_dataset("qmsum", "val"):
        if example.document not in seen:
            seen.add(example.document)
            ids += tokenizer(example.document, add_special_tokens=False)["input_ids"]
            if len(ids) >= tokens:
                return ids[:tokens]
    raise RuntimeError("QMSum validation is shorter than the benchmark needs")


def prefill_speed(dtype: str, lengths: tuple[int, ...]) -> dict:
    """Prefill tokens/s at each length, for one dtype."""
    import torch

    from qfocus.generation import prefill
    from qfocus.models import load_model

    lm = load_model("smollm2", dtype=dtype)
    ids = meeting_ids(lm.tokenizer, max(*lengths, 2048))
    row: dict = {"dtype": dtype}
    with torch.inference_mode():
        prefill(lm, torch.tensor([ids[:256]]), 1024)  # warm-up
        for length in lengths:
            _, seconds = _timed(lambda: prefill(lm, torch.tensor([ids[:length]]), 1024))
            row[f"prefill_{length}_s"] = round(seconds, 2)
            row[f"prefill_{length}_tok_s"] = round(length / seconds, 1)
    return row


def plain_generate(lm, prompt: list[int], config) -> int:
    """The decoding path before the fast loop: transformers' `generate` continuing a `DynamicCache`
    (a `torch.cat` of the whole cache per token) with the same penalty and stop tokens."""
    import torch
    from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

    from qfocus.generation import _stop_ids, prefill
    from qfocus.models.kv_cache import with_cache

    ids = torch.tensor([prompt])
    with torch.inference_mode():
        cache = prefill(lm, ids[:, :-1], config.prefill_chunk)
        out = lm.model.generate(
            ids, attention_mask=torch.ones_like(ids), **with_cache(cache), max_new_tokens=config.max_new_tokens,
            do_sample=False, logits_processor=LogitsProcessorList(
                [RepetitionPenaltyLogitsProcessor(config.repetition_penalty, prompt_ignore_length=ids.shape[1])]),
            pad_token_id=lm.tokenizer.pad_token_id, eos_token_id=sorted(_stop_ids(lm)))
    return out.shape[1] - ids.shape[1]


def decode_speed(dtype: str, decode_tokens: int, repeats: int = 3) -> list[dict]:
    """Greedy tokens/s at 2K context: the plain path with full weights, the fast path as loaded by default."""
    import statistics

    from qfocus.config import GenerationConfig
    from qfocus.generation import generate
    from qfocus.models import load_model

    rows = []
    for path, weights in (("plain", "full"), ("fast", "auto")):
        lm = load_model("smollm2", dtype=dtype, decode_weights=weights)
        prompt = meeting_ids(lm.tokenizer, 2048)

        def tokens(n: int) -> int:
            config = GenerationConfig(max_new_tokens=n)
            return plain_generate(lm, prompt, config) if path == "plain" else generate(lm, prompt, config).new_tokens

        lm.model.generation_config.eos_token_id = None  # decode exactly n tokens
        tokens(1)  # warm-up
        speeds = []
        for _ in range(repeats):
            _, first = _timed(lambda: tokens(1))
            made, total = _timed(lambda: tokens(1 + decode_tokens))
            if made != 1 + decode_tokens:
                raise RuntimeError(f"{path} decoding stopped after {made} tokens: a stop token was generated")
            speeds.append(decode_tokens / (total - first))
        rows.append({"dtype": dtype, "path": path, "decode_weights": "int4" if lm.packed else "full",
                     "tok_s": round(statistics.median(speeds), 1), "tok_s_all": [round(v, 1) for v in speeds]})
        del lm
    return rows


def eval_speed(dtype: str, examples: int, batch: int, out: Path) -> list[dict]:
    """Examples/s of `truncate` at a 2,048 window, one at a time and `batch` at a time."""
    from qfocus.config import SummarizeConfig
    from qfocus.evaluation.run import EvalConfig, load_examples, run_examples
    from qfocus.models import load_model
    from qfocus.strategies import get_strategy

    base = EvalConfig(data="qmsum", split="val", limit=examples,
                      summarize=SummarizeConfig(dtype=dtype, context_window=2048))
    chosen = load_examples(base)
    lm = load_model("smollm2", dtype=dtype)
    strategy = get_strategy("truncate", base.summarize)
    strategy.summarize(lm, chosen[0].document, chosen[0].query)  # warm-up, untimed
    rows, answers = [], {}
    for size in (1, batch):
        config = replace(base, batch_size=size, out=str(out / f"eval-{dtype}-b{size}"))
        metrics, seconds = _timed(lambda config=config: run_examples(lm, strategy, chosen, config))
        lines = (Path(config.out) / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
        answers[size] = [json.loads(line)["prediction"] for line in lines]
        rows.append({"dtype": dtype, "batch": size, "examples": len(chosen), "seconds": round(seconds, 1),
                     "examples_per_s": round(len(chosen) / seconds, 4), "geometric_mean": metrics["geometric_mean"],
                     "rougeLsum": metrics["rougeLsum"]})
    rows[-1]["same_answers_as_batch_1"] = sum(a == b for a, b in zip(answers[1], answers[batch]))
    return rows


def summarize_process(dtype: str, document: str, query: str, decode_weights: str = "auto") -> dict:
    """`qfocus summarize` in a fresh process: wall time (model load included) and peak RSS."""
    from qfocus.bench.process import run_child

    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as file:
        file.write(document)
    child = run_child([sys.executable, "-m", "qfocus", "summarize", file.name, "--query", query, "--json",
                       "--dtype", dtype, "--decode-weights", decode_weights])
    os.unlink(file.name)
    if child.returncode:
        raise RuntimeError(f"qfocus summarize --dtype {dtype} failed ({child.returncode}): {child.stderr.strip()[-500:]}")
    result = json.loads(child.stdout)
    return {"dtype": dtype, "decode_weights": decode_weights, "wall_s": round(child.wall_s, 2),
            "peak_rss_mb": round(child.peak_rss_mb, 1),
            "document_tokens": result["document_tokens"], "prompt_tokens": result["prompt_tokens"],
            "answer_tokens": result["answer_tokens"]}


def ten_k_meeting() -> tuple[str, str]:
    """The QMSum validation meeting closest to 10K tokens (about 4.2 characters a token), and its first query."""
    from qfocus.data import load_dataset

    examples = load_dataset("qmsum", "val")
    best = min(examples, key=lambda e: abs(len(e.document) / 4.2 - 10_000))
    return best.document, best.query


def train_step(precision: str, batch: int = 4, length: int = 1024, steps: int = 2) -> dict:
    """Median seconds of an IDEAL-LoRA forward+backward step, fp32 weights, with or without bf16 autocast."""
    import statistics
    from contextlib import nullcontext

    import torch

    from qfocus.hyper import HyperConfig, attach
    from qfocus.models import load_model

    lm = load_model("smollm2", dtype="float32")
    net = lm.model.train()
    expert = attach(net, HyperConfig(method="ideal-lora", dropout=0.0))
    ids = torch.tensor([meeting_ids(lm.tokenizer, batch * length)]).view(batch, length)
    query = torch.zeros(batch, length, dtype=torch.bool)
    query[:, 5:40] = True
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()

    def step() -> float:
        start = time.perf_counter()
        with autocast, expert.query(query):
            loss = net(input_ids=ids, labels=ids).loss
        loss.backward()
        net.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    step()  # warm-up
    times = [step() for _ in range(steps)]
    return {"precision": precision, "batch": batch, "length": length, "step_s": round(statistics.median(times), 2),
            "step_s_all": [round(t, 2) for t in times]}


def run(out: Path, *, lengths: tuple[int, ...] = (2048, 8192), decode_tokens: int = 64, examples: int = 16,
        batch: int = 8, parts: tuple[str, ...] = PARTS, on_row=None) -> dict:
    import torch

    from qfocus.models import native_bf16, resolve_checkpoint

    resolve_checkpoint("smollm2")  # convert once, outside the timed runs
    torch.set_num_threads(os.cpu_count() or 1)
    note = on_row or (lambda row: None)
    report: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                "torch": torch.__version__, "native_bf16": native_bf16()},
                    "command": f"qfocus bench speed --lengths {' '.join(map(str, lengths))} --decode-tokens "
                               f"{decode_tokens} --examples {examples} --batch {batch} --parts {' '.join(parts)} "
                               f"--out {out}"}

    def section(name: str, rows) -> None:
        report[name] = rows
        for row in rows if isinstance(rows, list) else [rows]:
            note(row)

    # first, while this process is small: a forked child's ru_maxrss starts from its parent's RSS
    if "summarize" in parts:
        document, query = ten_k_meeting()
        section("summarize", [summarize_process(d, document, query, w) for d in DTYPES for w in ("full", "auto")])
    if "matmul" in parts:
        section("matmul_gflops", {d: matmul_gflops(getattr(torch, d)) for d in DTYPES})
    if "train" in parts:
        section("train", [train_step(p) for p in ("no", "bf16")])
    if "prefill" in parts:
        section("prefill", [prefill_speed(d, lengths) for d in DTYPES])
    if "decode" in parts:
        section("decode", [row for d in DTYPES for row in decode_speed(d, decode_tokens)])
    if "eval" in parts:
        with tempfile.TemporaryDirectory() as work:
            section("eval", [row for d in DTYPES for row in eval_speed(d, examples, batch, Path(work))])
    report["ratios"] = ratios(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, out.with_suffix(".png"))
    return report


def ratios(report: dict) -> dict:
    """Each fast figure over its baseline from the same run (float32, batch 1, the plain decoding path)."""
    out = {}
    if "matmul_gflops" in report:
        gflops = report["matmul_gflops"]
        out["matmul_bf16_over_fp32"] = round(gflops["bfloat16"] / gflops["float32"], 2)
    if "prefill" in report:
        model = {row["dtype"]: row for row in report["prefill"]}
        for key in model["float32"]:
            if key.endswith("tok_s"):
                out[f"{key}_bf16_over_fp32"] = round(model["bfloat16"][key] / model["float32"][key], 2)
    if "decode" in report:
        decode = {(row["dtype"], row["path"]): row["tok_s"] for row in report["decode"]}
        for dtype in DTYPES:
            out[f"decode_{dtype}_fast_over_plain"] = round(decode[(dtype, "fast")] / decode[(dtype, "plain")], 2)
        out["decode_bf16_fast_over_fp32_plain"] = round(decode[("bfloat16", "fast")] / decode[("float32", "plain")], 2)
    if "eval" in report:
        ev = {(row["dtype"], row["batch"]): row for row in report["eval"]}
        batch = max(b for _, b in ev)
        for dtype in DTYPES:
            out[f"eval_{dtype}_batch{batch}_over_batch1"] = round(
                ev[(dtype, batch)]["examples_per_s"] / ev[(dtype, 1)]["examples_per_s"], 2)
        out[f"eval_bf16_batch{batch}_over_fp32_batch1"] = round(
            ev[("bfloat16", batch)]["examples_per_s"] / ev[("float32", 1)]["examples_per_s"], 2)
    if "train" in report:
        out["train_step_fp32_over_bf16"] = round(report["train"][0]["step_s"] / report["train"][1]["step_s"], 2)
    if "summarize" in report:
        # wall time includes decoding the answers, which may differ in length (their token counts are in the rows)
        summ = {(row["dtype"], row["decode_weights"]): row for row in report["summarize"]}
        for dtype in DTYPES:
            out[f"summarize_{dtype}_wall_full_over_auto"] = round(
                summ[(dtype, "full")]["wall_s"] / summ[(dtype, "auto")]["wall_s"], 2)
        out["summarize_fp32_full_wall_over_bf16_auto"] = round(
            summ[("float32", "full")]["wall_s"] / summ[("bfloat16", "auto")]["wall_s"], 2)
        out["summarize_bf16_auto_rss_over_fp32_full"] = round(
            summ[("bfloat16", "auto")]["peak_rss_mb"] / summ[("float32", "full")]["peak_rss_mb"], 2)
    return out


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed = {k: v for k, v in report["ratios"].items() if "rss" not in k}  # all: higher is faster
    names = [k.replace("_over_", " / ").replace("_", " ") for k in speed]
    values = list(speed.values())
    figure, axis = plt.subplots(figsize=(8, 0.4 * len(names) + 1))
    axis.barh(names, values, color=["tab:green" if v >= 1 else "tab:red" for v in values])
    axis.axvline(1, color="black", linewidth=0.8)
    axis.set_xlabel("speed-up (same run; > 1 is faster)")
    axis.set_title("qfocus speed on CPU: fast path over its baseline (float32, batch 1, plain decoding)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
