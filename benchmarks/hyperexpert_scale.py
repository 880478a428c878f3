"""How large, and how query-dependent, are the LoRA matrices the HyperExpert generates?

At initialisation (reference "hyperfanin" init) and, given --adapter, after training: the mean
|entry| of the generated A against a static LoRA A, each head's generated norm per layer, and the
part of it that differs between queries (norm of the deviation from the mean over the queries).

    python benchmarks/hyperexpert_scale.py --adapter runs/covidet-ideal-lora --out benchmarks/results/hyperexpert_scale.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from qfocus.hyper import HyperConfig, attach
from qfocus.hyper.training import make_batch
from qfocus.models import load_model

QUERIES = [f"Write a summary from the {emotion} perspective" for emotion in ("fear", "joy", "anger", "sadness")]
POST = "I got my vaccine today and my arm hurts. The clinic was fast but I worry about side effects."


def generated(lm, expert) -> dict[str, torch.Tensor]:
    batch = make_batch(lm.tokenizer, [(q, POST, "x") for q in QUERIES], 768)
    with torch.no_grad(), expert.query(batch.query_mask):
        lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        return dict(expert.state.generated)  # head → (queries, layers, size)


def describe(lm, expert) -> dict:
    out = {}
    for head, tensor in generated(lm, expert).items():
        deviation = tensor - tensor.mean(0, keepdim=True)
        out[head] = {"mean_abs_entry": float(tensor.abs().mean()), "norm_per_layer": float(tensor.norm(dim=-1).mean()),
                     "query_dependent_norm_per_layer": float(deviation.norm(dim=-1).mean())}
    static = {n: p for n, p in expert.named_adapter_parameters().items() if n.endswith("layers.0.self_attn.q_proj.qf_lora_A")}
    a = next(iter(static.values()))
    out["static_A_layer0_q"] = {"mean_abs_entry": float(a.abs().mean()), "norm": float(a.norm())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", help="a trained ideal-lora adapter folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    lm = load_model("smollm2", dtype="float32")
    report = {"queries": QUERIES, "init": describe(lm, attach(lm.model, HyperConfig(method="ideal-lora", dropout=0.0)))}
    init = report["init"]
    report["init"]["static_over_generated_mean_abs"] = init["static_A_layer0_q"]["mean_abs_entry"] / init["q"]["mean_abs_entry"]
    if args.adapter:
        trained = load_model("smollm2", dtype="float32", adapter=args.adapter)
        report["trained"] = {"adapter": args.adapter, **describe(trained, trained.expert)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["init"]["q"]), json.dumps(report.get("trained", {}).get("q")))


if __name__ == "__main__":
    main()
