"""Long-context prefill: peak memory and time against document length.

Ways to read N tokens, each (way, N) in its own process so that peak RSS is its own:
  ideal     the `ideal` strategy's reading: HyperExpert (IDEAL-LoRA, freshly initialised) + segment-recurrent
            attention with compressive memory (`qfocus.memory`), segment S
  full      the model's own attention over all N tokens (chunked prefill into a KV cache)
  truncate  the model's own attention over the first `window` tokens only (what `truncate` reads)
  qllm      the `qllm` strategy's reading: KV blocks (`qfocus.blocks`, default settings: 128 sinks, a
            256-token window, top-4 of 64-token blocks, execution blocks of 256)
  stream    the same with top-k 0 (StreamingLLM: sinks + window, nothing stored)
  focus     the `focus` strategy's reading (FocusLLM, untrained candidates): chunks of `segment` tokens, each
            with the last 512 local tokens and a candidate, 8 at a time; then the last min(2,048, window) tokens
            (the local context) over every candidate. Every chunk's cache is kept for decoding (stored bytes per token)
  focus-bounded  the same reading keeping only the candidates (`--focus-decode frozen` or `reread`):
            each micro-batch's cache is dropped once read
Random token ids (timing does not depend on the text); logits for the last position only. One untimed
reading of the first two segments comes first, so kernel selection and loading stay out of the timing.

    qfocus bench long-context --out benchmarks/results/long_context_cpu.json
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from qfocus.bench.process import run_child

WAYS = ("ideal", "full", "truncate", "qllm", "stream", "focus", "focus-bounded")
FOCUS_WAYS = ("focus", "focus-bounded")
FOCUS_LOCAL = 2048  # the local context of the `focus` way
LENGTHS = (2048, 4096, 8192, 16384, 32768, 65536, 131072)


def measure(way: str, model: str, length: int, segment: int, window: int, device: str) -> dict:
    """Run inside the worker: one prefill of `length` tokens; returns seconds and tokens/s."""
    import torch

    from qfocus.models import load_model

    lm = load_model(model, device=device, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    net = lm.model
    ids = torch.randint(10, net.config.vocab_size, (1, length), generator=torch.Generator().manual_seed(0)).to(lm.device)
    read_tokens = min(length, window) if way == "truncate" else length

    def prefill(ids: torch.Tensor):
        """One reading of `ids` the way `way` reads it: the last position's logits (and stored bytes)."""
        stored = None
        if way in ("qllm", "stream"):
            from qfocus.blocks import read

            query_mask = torch.zeros_like(ids, dtype=torch.bool)
            query_mask[:, 5:40] = True
            logits, state = read(net, handle, ids, None, query_mask)
            stored = state.stored_bytes()
        elif way in FOCUS_WAYS:
            from qfocus.focus import local_logits, read_chunks, split

            chunks, prompt, local = split(ids[0].tolist(), min(FOCUS_LOCAL, window), segment, 512)
            state = read_chunks(net, handle.context, chunks, prompt, 8, keep=way == "focus")
            logits = local_logits(net, handle.context, state, local)
            stored = state.stored_bytes()
        elif way == "ideal":
            from qfocus.memory.segments import read

            query_mask = torch.zeros_like(ids, dtype=torch.bool)
            query_mask[:, 5:40] = True
            with expert.query(query_mask[:, :segment]):
                logits, _ = read(net, expert.memory, ids, query_mask, segment=segment)
        else:
            from transformers import DynamicCache

            from qfocus.models.kv_cache import with_cache

            cache = DynamicCache(config=net.config)
            for begin in range(0, min(ids.shape[1], read_tokens), segment):  # the chunked prefill `summarize` uses
                logits = net(input_ids=ids[:, begin:min(begin + segment, read_tokens)], use_cache=True,
                             logits_to_keep=1, **with_cache(cache)).logits
        assert torch.isfinite(logits).all()
        return stored

    expert = handle = None  # attached once; their recurrent state lives in each reading
    if way in ("qllm", "stream"):
        from qfocus.blocks import attach_blocks
        from qfocus.config import BlockConfig

        handle = attach_blocks(net, BlockConfig(topk=0) if way == "stream" else BlockConfig())
    elif way in FOCUS_WAYS:
        from qfocus.focus import attach_focus

        handle = attach_focus(net)
    elif way == "ideal":
        from qfocus.hyper import HyperConfig, attach

        expert = attach(net, HyperConfig(method="ideal-lora", memory=True, segment=segment))
    with torch.no_grad():
        prefill(ids[:, :min(length, 2 * segment)])  # warm-up: kernels chosen and loaded outside the timing
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        stored = prefill(ids)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    row = {"way": way, "length": length, "tokens_read": read_tokens, "prefill_s": round(seconds, 3),
           "tokens_per_s": round(read_tokens / seconds, 1)}
    if way in ("qllm", "stream", *FOCUS_WAYS):
        row["stored_bytes_per_token"] = round(stored / length, 1)  # keys, values (and representatives), all layers
    if device == "cuda":
        row["peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return row


def run(out: Path, model: str = "smollm2", lengths: tuple[int, ...] = LENGTHS, segment: int = 1024,
        window: int = 8192, full_max: int = 16384, device: str = "cpu", plot: Path | None = None,
        on_row=None, ways: tuple[str, ...] = WAYS, budget_gb: float = 24.0) -> dict:
    """Measure every (way, length) in its own process; write the JSON report (and a PNG plot).

    The report is rewritten after every row, so a run cut short keeps what it measured. A worker that
    fails (out of memory, say) is recorded as an `error` row and that way's longer lengths are skipped.
    """
    import torch

    rows = []
    report = {"command": "qfocus " + " ".join(sys.argv[1:]), "model": model, "device": device, "segment": segment,
              "truncate_window": window, "budget_gb": budget_gb,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                          "gpu": torch.cuda.get_device_name() if device == "cuda" else None},
              "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    for way in ways:
        for length in lengths:
            if way == "full" and length > full_max:
                continue
            command = [sys.executable, "-m", "qfocus.bench.long_context", way, model, str(length), str(segment),
                       str(window), device]
            child = run_child(command)
            if child.returncode != 0:
                last = (child.stderr.strip().splitlines() or ["exit code %d" % child.returncode])[-1]
                if device != "cuda" or "out of memory" not in last.lower():
                    raise RuntimeError(f"{way} at {length} tokens failed: {last}")
                row = {"way": way, "length": length, "error": last[:200]}
            else:
                row = json.loads(child.stdout.strip().splitlines()[-1])
            rows.append(row)
            report["ratios"] = _ratios(rows, budget_gb)
            out.write_text(json.dumps(report, indent=2) + "\n")
            if on_row is not None:
                on_row(row)
            if "error" in row:
                break  # longer documents need more memory still
    if plot is not None:
        _plot([r for r in rows if "error" not in r], plot)
    return report


def _ratios(rows: list[dict], budget_gb: float = 24.0) -> dict:
    """Per whole-document reading: peak memory(64K)/memory(4K), time(64K)/time(8K), throughput at 4K vs full;
    on a GPU, the longest document each way read within `budget_gb` of GPU memory."""
    ratios = {}
    for way in WAYS:
        fits = [r["length"] for r in rows if r["way"] == way and r.get("peak_mb", 1e18) <= budget_gb * 1024]
        if fits and any("peak_mb" in r for r in rows):
            ratios[f"{way}_longest_within_budget"] = max(fits)
    rows = [r for r in rows if "error" not in r]
    by = {(r["way"], r["length"]): r for r in rows}
    for way in ("ideal", "qllm", "stream", *FOCUS_WAYS):
        row = lambda n: by.get((way, n))  # noqa: E731
        if row(65536) and row(4096) and "peak_rss_mb" in row(4096):
            ratios[f"{way}_peak_64k_over_4k"] = round(row(65536)["peak_rss_mb"] / row(4096)["peak_rss_mb"], 3)
        if row(65536) and row(8192):
            ratios[f"{way}_time_64k_over_8k"] = round(row(65536)["prefill_s"] / row(8192)["prefill_s"], 3)
        if row(4096) and by.get(("full", 4096)):
            ratios[f"{way}_throughput_over_full_at_4k"] = round(row(4096)["tokens_per_s"] / by[("full", 4096)]["tokens_per_s"], 3)
    return ratios


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for way in WAYS:
        mine = [r for r in rows if r["way"] == way]
        if not mine:
            continue
        xs = [r["length"] for r in mine]
        key = "peak_rss_mb" if "peak_rss_mb" in mine[0] else "peak_mb"
        left.plot(xs, [r[key] for r in mine], marker="o", label=way)
        right.plot(xs, [r["prefill_s"] for r in mine], marker="o", label=way)
    for ax, label in ((left, "peak memory (MB)"), (right, "prefill time (s)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("document tokens")
        ax.set_ylabel(label)
        ax.legend()
    right.set_yscale("log")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":  # worker: way model length segment window device
    import resource

    way, model, length, segment, window, device = sys.argv[1:7]
    row = measure(way, model, int(length), int(segment), int(window), device)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # this process's peak
    print(json.dumps(row))
