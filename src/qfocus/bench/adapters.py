"""Adapter overhead: forward+backward time and peak memory of each HyperExpert method.

Every method runs in its own process (peak RSS on CPU is per process; on CUDA the peak allocated
memory is read in-process), on the embedded model, batch B × T random tokens, loss on all tokens.
The reference is static LoRA measured in the same run: each figure is also reported as a ratio to
it. "base" is the model without adapters with gradients flowing to the input embeddings only: the
activation-gradient cost every adapter method pays at least.

    qfocus bench adapters --out benchmarks/results/adapters_cpu.json
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from qfocus.bench.process import run_child

METHODS = ("base", "lora", "prompt", "padapter", "ideal-lora", "ideal-prompt", "ideal-padapter")


def measure(method: str, model: str, batch: int, length: int, steps: int, device: str) -> dict:
    """Run inside the worker process: time `steps` forward+backward passes after one warm-up."""
    import torch

    from qfocus.hyper import HyperConfig, attach
    from qfocus.models import load_model

    lm = load_model(model, device=device, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    net = lm.model
    net.train()
    expert = None
    if method == "base":
        net.requires_grad_(False)
    else:
        expert = attach(net, HyperConfig(method=method, dropout=0.0))
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(10, net.config.vocab_size, (batch, length), generator=generator).to(lm.device)
    query = torch.zeros(batch, length, dtype=torch.bool, device=lm.device)
    query[:, 5:40] = True  # a 35-token query near the start, as the prompt builder places it

    def step() -> float:
        start = time.perf_counter()
        if expert is None:
            embeds = net.get_input_embeddings()(ids).detach().requires_grad_(True)
            loss = net(inputs_embeds=embeds, labels=ids).loss
        else:
            with expert.query(query):
                loss = net(input_ids=ids, labels=ids).loss
        loss.backward()
        net.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    step()  # warm-up
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = [step() for _ in range(steps)]
    row = {"method": method, "step_s": statistics.median(times), "step_s_all": [round(t, 4) for t in times]}
    counts = expert.parameter_counts() if expert else {"adapter": 0, "trainable": 0,
                                                       "base": sum(p.numel() for p in net.parameters())}
    row.update(trainable_parameters=counts["trainable"], base_parameters=counts["base"])
    if device == "cuda":
        row["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def run(out: Path, model: str = "smollm2", batch: int = 4, length: int = 1024, steps: int = 3,
        device: str = "cpu", methods: tuple[str, ...] = METHODS) -> dict:
    """Measure every method in its own process and write the JSON report to `out`."""
    rows = []
    for method in methods:
        command = [sys.executable, "-m", "qfocus.bench.adapters", method, model, str(batch), str(length), str(steps), device]
        child = run_child(command)
        if child.returncode != 0:
            raise RuntimeError(f"benchmark worker for {method} failed; run it alone: {' '.join(command)}")
        row = json.loads(child.stdout.strip().splitlines()[-1])
        if device == "cpu":
            row["peak_mb"] = child.peak_rss_mb  # the worker's peak RSS (model + activations)
        rows.append(row)
        print(f"{method:15s} {row['step_s']:8.3f} s/step  {row['peak_mb']:9.0f} MB  "
              f"{row['trainable_parameters']:>10,} trainable", flush=True)
    reference = next((r for r in rows if r["method"] == "lora"), rows[0])
    for row in rows:
        row["time_vs_lora"] = round(row["step_s"] / reference["step_s"], 3)
        row["memory_vs_lora"] = round(row["peak_mb"] / reference["peak_mb"], 3)
    import torch

    report = {
        "command": "qfocus " + " ".join(sys.argv[1:]),
        "settings": {"model": model, "batch": batch, "length": length, "steps": steps, "device": device},
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
                    "torch": torch.__version__, "gpu": torch.cuda.get_device_name() if device == "cuda" else None},
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":  # worker: method model batch length steps device
    method, model, batch, length, steps, device = sys.argv[1:7]
    print(json.dumps(measure(method, model, int(batch), int(length), int(steps), device)))
