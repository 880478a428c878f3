"""Turn a `qfocus train` run into the adapter folder shipped in the package (src/qfocus/shipped/NAME).

Writes adapter.safetensors in bfloat16 (half the size; the embedded model runs in bf16 or upcasts on
load), adapter_config.json with the window the adapter was trained for and where it came from, and
prints the files' sha256 for the model card (tests check the card against the files).

    python scripts/ship_adapter.py runs/gpu-ideal-lora-qmsum-squality src/qfocus/shipped/smollm2-ideal-lora --context-window 2048
"""

import argparse
import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a `qfocus train --out` folder")
    parser.add_argument("target", type=Path, help="the shipped adapter folder to write")
    parser.add_argument("--context-window", type=int, required=True, help="prompt + answer tokens it was trained for")
    args = parser.parse_args()
    tensors = {name: t.to(torch.bfloat16).contiguous() for name, t in load_file(args.run / "adapter.safetensors").items()}
    meta = json.loads((args.run / "adapter_config.json").read_text())
    train = json.loads((args.run / "train_config.json").read_text())
    summary = json.loads((args.run / "summary.json").read_text())
    meta["context_window"] = args.context_window
    meta["base_model"]["name_or_path"] = train["model"]  # the embedded name, not the trainer's cache path
    meta["trained"] = {key: train[key] for key in ("data", "split", "max_input_tokens", "max_summary_tokens", "epochs",
                                                   "batch_size", "seed")}
    meta["trained"].update(steps=summary["steps"], device=summary["device"], mixed_precision=summary["mixed_precision"])
    args.target.mkdir(parents=True, exist_ok=True)
    save_file(tensors, args.target / "adapter.safetensors")
    (args.target / "adapter_config.json").write_text(json.dumps(meta, indent=2) + "\n")
    for name in ("adapter.safetensors", "adapter_config.json"):
        path = args.target / name
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {name} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
