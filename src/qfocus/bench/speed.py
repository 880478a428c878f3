"""Speed on the user's hardware: float32 against the fast path, measured side by side in one run.

  matmul      1024x576 @ 576x1536 (SmolLM2's MLP shape) GFLOPS per dtype
  prefill     tokens/s reading 2K and 8K tokens of a real meeting (`generation.prefill`, chunks of 1,024)
  decode      greedy tokens/s after a 2K-token prompt, with the answer-only repetition penalty:
              (time to 1 + n new tokens − time to 1 new token) / n, through `generation.generate`
  eval        QMSum validation examples per second, `truncate` at a 2,048-token window, one at a time
              and in batches (`run_examples`); the batched answers are compared with the one-at-a-time ones
  summarize   `qfocus summarize` on a ~10K-token meeting in a fresh process (model load included):
              wall time and peak RSS per dtype
  train       one IDEAL-LoRA training step (forward + backward, batch 4 x 1,024 tokens): fp32 against
              bf16 autocast (what `qfocus train --precision bf16` does on a CPU through accelerate)
Every ratio is against float32 (or batch 1) measured in the same run.

    qfocus bench speed --out benchmarks/results/speed_cpu.json
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

import torch

DTYPES = ("float32", "bfloat16")


def _timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def matmul_gflops(dtype: torch.dtype, repeats: int = 50) -> float:
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


def model_speed(dtype: str, lengths: tuple[int, ...], decode_tokens: int) -> dict:
    """Prefill tokens/s at each length and greedy decode tokens/s at 2K context, for one dtype."""
    from qfocus.config import GenerationConfig
    from qfocus.generation import generate, prefill
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
    prompt = ids[:2048]
    eos = lm.model.generation_config.eos_token_id
    lm.model.generation_config.eos_token_id = None  # decode exactly n tokens
    try:
        one = GenerationConfig(max_new_tokens=1)
        many = GenerationConfig(max_new_tokens=1 + decode_tokens)
        generate(lm, prompt, one)  # warm-up
        _, first = _timed(lambda: generate(lm, prompt, one))
        answer, total = _timed(lambda: generate(lm, prompt, many))
    finally:
        lm.model.generation_config.eos_token_id = eos
    assert answer.new_tokens == 1 + decode_tokens
    row["decode_tok_s"] = round(decode_tokens / (total - first), 1)
    return row


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


def summarize_process(dtype: str, document: str, query: str) -> dict:
    """`qfocus summarize` in a fresh process: wall time (model load included) and peak RSS."""
    from qfocus.bench.process import run_child

    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as file:
        file.write(document)
    child = run_child([sys.executable, "-m", "qfocus", "summarize", file.name, "--query", query, "--json",
                       "--dtype", dtype])
    os.unlink(file.name)
    if child.returncode:
        raise RuntimeError(f"qfocus summarize --dtype {dtype} failed ({child.returncode}): {child.stderr.strip()[-500:]}")
    result = json.loads(child.stdout)
    return {"dtype": dtype, "wall_s": round(child.wall_s, 2), "peak_rss_mb": round(child.peak_rss_mb, 1),
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
        batch: int = 8, on_row=None) -> dict:
    from qfocus.models import native_bf16, resolve_checkpoint

    resolve_checkpoint("smollm2")  # convert once, outside the timed runs
    torch.set_num_threads(os.cpu_count() or 1)
    note = on_row or (lambda row: None)
    report: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                "torch": torch.__version__, "native_bf16": native_bf16()},
                    "command": f"qfocus bench speed --lengths {' '.join(map(str, lengths))} --decode-tokens "
                               f"{decode_tokens} --examples {examples} --batch {batch} --out {out}"}
    # first, while this process is small: a forked child's ru_maxrss starts from its parent's RSS
    document, query = ten_k_meeting()
    report["summarize"] = [summarize_process(d, document, query) for d in DTYPES]
    for row in report["summarize"]:
        note(row)
    report["matmul_gflops"] = {d: matmul_gflops(getattr(torch, d)) for d in DTYPES}
    note(report["matmul_gflops"])
    report["train"] = [train_step(p) for p in ("no", "bf16")]
    for row in report["train"]:
        note(row)
    report["model"] = [model_speed(d, lengths, decode_tokens) for d in DTYPES]
    for row in report["model"]:
        note(row)
    with tempfile.TemporaryDirectory() as work:
        report["eval"] = [row for d in DTYPES for row in eval_speed(d, examples, batch, Path(work))]
    for row in report["eval"]:
        note(row)
    report["ratios"] = ratios(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, out.with_suffix(".png"))
    return report


def ratios(report: dict) -> dict:
    """Each fast figure over its float32 / batch-1 baseline from the same run."""
    model = {row["dtype"]: row for row in report["model"]}
    ev = {(row["dtype"], row["batch"]): row for row in report["eval"]}
    summ = {row["dtype"]: row for row in report["summarize"]}
    batch = max(b for _, b in ev)
    out = {"matmul_bf16_over_fp32": round(report["matmul_gflops"]["bfloat16"] / report["matmul_gflops"]["float32"], 2)}
    for key in model["float32"]:
        if key.endswith("tok_s"):
            out[f"{key}_bf16_over_fp32"] = round(model["bfloat16"][key] / model["float32"][key], 2)
    for dtype in DTYPES:
        out[f"eval_{dtype}_batch{batch}_over_batch1"] = round(
            ev[(dtype, batch)]["examples_per_s"] / ev[(dtype, 1)]["examples_per_s"], 2)
    out[f"eval_bf16_batch{batch}_over_fp32_batch1"] = round(
        ev[("bfloat16", batch)]["examples_per_s"] / ev[("float32", 1)]["examples_per_s"], 2)
    out["train_step_fp32_over_bf16"] = round(report["train"][0]["step_s"] / report["train"][1]["step_s"], 2)
    # the two answers may differ in length: wall time includes decoding them
    out["summarize_fp32_wall_over_bf16"] = round(summ["float32"]["wall_s"] / summ["bfloat16"]["wall_s"], 2)
    out["summarize_bf16_rss_over_fp32"] = round(summ["bfloat16"]["peak_rss_mb"] / summ["float32"]["peak_rss_mb"], 2)
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
    axis.set_title("qfocus speed on CPU: fast path over float32 / batch 1")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
