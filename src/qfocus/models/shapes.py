"""Weightless models of a known shape, for speed and memory measurements only.

`load_model("random:llama-2-7b")` builds the architecture from a config with freshly initialised
weights, directly on the target device (a 7B model in bf16 never touches host memory). Timings and
peak memory depend on the shape, not the weights, so a GPU benchmark needs no 13 GB checkpoint.
It has no tokenizer: only the benchmarks that feed random token ids can use it.

    qfocus bench long-context --device cuda --model random:llama-2-7b --out long_context_cuda.json
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, PretrainedConfig, PreTrainedModel

from qfocus.errors import ModelNotAvailable

PREFIX = "random:"

# The published shapes; tied embeddings and vocabulary as the original checkpoints.
SHAPES: dict[str, dict] = {
    "llama-2-7b": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                       rms_norm_eps=1e-5, rope_theta=10000.0),
    "llama-3-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                       rms_norm_eps=1e-5, rope_theta=500000.0),
}


def is_shape(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def shape_config(name: str) -> PretrainedConfig:
    """`random:<preset>` (see SHAPES) or `random:<folder with config.json>`."""
    spec = name[len(PREFIX):]
    if spec in SHAPES:
        return LlamaConfig(**SHAPES[spec])
    folder = Path(spec).expanduser()
    if (folder / "config.json").is_file():
        return AutoConfig.from_pretrained(folder, local_files_only=True)
    raise ModelNotAvailable(f"unknown shape '{spec}': use one of {', '.join(SHAPES)} or a folder holding a config.json")


def random_model(name: str, dtype: torch.dtype, device: torch.device, seed: int = 0) -> PreTrainedModel:
    """The architecture of `name` with random weights, built in `dtype` on `device`, in eval mode."""
    config = shape_config(name)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model.eval()
