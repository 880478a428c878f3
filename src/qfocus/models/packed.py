"""4-bit weights for decoding on a CPU: the decoder's projections packed in groups of 32.

Decoding reads every weight once per token and does little arithmetic with it, so on a CPU its speed
is the speed of memory: SmolLM2's 106M projection weights are 424 MB in float32, 212 MB in bf16,
and 60 MB as 4-bit integers with a scale and an offset per group of 32 weights. The embedded
SmolLM2 is itself stored that way (GGUF Q4_1: w = d·q + m, q ∈ 0..15, one d and m per 32 weights),
so packing its projections back into 4 bits recovers its own integers: the packed weights equal the
checkpoint's up to the bf16 rounding of d and of the offset (`pack` reports the largest difference).

- `Packed4Linear` wraps an `nn.Linear` (kept as `base_layer`, as every qfocus adapter wraps): a
  decoding step (one new position per sequence, on the CPU, no gradient) multiplies by the packed
  weights with torch's `_weight_int4pack_mm_for_cpu` (bf16 activations, as the kernel wants them);
  every other call (reading a prompt, training, a weight edited in place) uses the dense layer
  unchanged, and a deep copy is the dense layer alone.
- `pack(model, mode)`: `int4` packs every q/k/v/o and MLP projection whose shape the kernel takes
  (out features a multiple of 16, in features of 32); `auto` does so only on a CPU with native bf16
  and only when the weights already lie on a 4-bit grid (so `auto` never changes a full-precision
  checkpoint); `full` packs nothing.

The quantiser is Q4_1's (min-max per group): d = (max − min)/15, q = round((w − min)/d), and the
kernel's form w = (q − 8)·d + (min + 8·d).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from qfocus.config import DECODE_WEIGHTS
from qfocus.models.anatomy import decoder_layers

GROUP = 32  # weights sharing one scale and offset (GGUF Q4_1's block)
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# `auto` packs when every weight is within this share of a step of its group's grid (bf16 rounding of Q4_1: 0.04)
ON_GRID = 0.1


@dataclass
class Quantized:
    """One weight matrix (N, K) as 4-bit integers in groups of GROUP along K."""

    q: torch.Tensor  # (N, K) int32 in 0..15
    scale: torch.Tensor  # (N, K / GROUP) float32: d
    low: torch.Tensor  # (N, K / GROUP) float32: min
    off_grid: float  # largest |w − (d·q + min)| / d: 0 for weights stored as Q4_1

    def dequantize(self) -> torch.Tensor:
        n, k = self.q.shape
        groups = self.q.view(n, k // GROUP, GROUP).float() * self.scale[..., None] + self.low[..., None]
        return groups.view(n, k)  # (N, K)


def quantize(weight: torch.Tensor) -> Quantized:
    """Q4_1's min-max quantiser, per group of GROUP weights along the input dimension."""
    n, k = weight.shape
    groups = weight.detach().float().view(n, k // GROUP, GROUP)  # (N, K/G, G)
    low, high = groups.amin(-1), groups.amax(-1)
    scale = ((high - low) / 15).clamp(min=torch.finfo(torch.float32).tiny)
    steps = (groups - low[..., None]) / scale[..., None]
    q = steps.round().clamp(0, 15)
    off_grid = float(((steps - q).abs()).max()) if groups.numel() else 0.0
    return Quantized(q.view(n, k).to(torch.int32), scale, low, off_grid)


def packable(linear: nn.Module) -> bool:
    return (isinstance(linear, nn.Linear) and linear.out_features % 16 == 0
            and linear.in_features % GROUP == 0)


class Packed4Linear(nn.Module):
    """An `nn.Linear` that decodes with 4-bit packed weights (see the module docstring)."""

    def __init__(self, base: nn.Linear, quantized: Quantized | None = None):
        super().__init__()
        self.base_layer = base
        self.packed_version = base.weight._version  # an in-place edit of the weight makes the pack stale
        quantized = quantized or quantize(base.weight)
        self.off_grid = quantized.off_grid
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(quantized.q, 1)  # (N, K/2) uint8
        # the kernel's (K/G, N, 2) scales and offsets: w = (q − 8)·d + (min + 8·d)
        scales = torch.stack([quantized.scale, quantized.low + 8 * quantized.scale], -1).transpose(0, 1)
        self.register_buffer("packed", packed, persistent=False)
        self.register_buffer("scales", scales.contiguous().to(torch.bfloat16), persistent=False)

    @property
    def weight(self) -> torch.Tensor:
        return self.base_layer.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base_layer.bias

    @property
    def in_features(self) -> int:
        return self.base_layer.in_features

    @property
    def out_features(self) -> int:
        return self.base_layer.out_features

    def __deepcopy__(self, memo):
        """A copy is the dense layer alone (FocusLLM copies projections to train them)."""
        return copy.deepcopy(self.base_layer, memo)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # one position per sequence (a decoding step, or a one-token chunk of a prompt), on the CPU,
        # without gradient, and the weight as it was packed; any number of sequences, so a batched
        # answer equals the one-at-a-time one
        stepping = x.dim() == 3 and x.shape[1] == 1 and x.device.type == "cpu"
        if (not stepping or self.weight._version != self.packed_version
                or (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))):
            return self.base_layer(x)
        flat = x.reshape(x.shape[0], x.shape[-1]).to(torch.bfloat16).contiguous()  # (B, K): the kernel wants it dense
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(flat, self.packed, GROUP, self.scales).to(x.dtype)  # (B, N)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)
        return y.view(*x.shape[:-1], y.shape[-1])


@dataclass
class PackReport:
    packed: int  # projections packed
    skipped: int  # projections whose shape the kernel does not take
    off_grid: float  # the largest distance from a 4-bit grid, in steps (0: lossless up to bf16 scales)


def projections(model: nn.Module):
    """(parent module, attribute) of every q/k/v/o and MLP projection of the decoder layers."""
    for layer in decoder_layers(model):
        for parent in layer.modules():
            for name in PROJECTIONS:
                if isinstance(parent._modules.get(name), nn.Linear):
                    yield parent, name


def pack(model: nn.Module, mode: str = "auto") -> PackReport | None:
    """Replace the decoder's projections by `Packed4Linear` (see the module docstring); None when
    `mode` packs nothing here. Run it before attaching adapters: they wrap the packed projections."""
    if mode not in DECODE_WEIGHTS:
        raise ValueError(f"decode weights '{mode}': use one of {', '.join(DECODE_WEIGHTS)}")
    if mode == "full" or model.device.type != "cpu":
        return None
    if mode == "auto":
        from qfocus.models import native_bf16

        if not native_bf16():
            return None
    found = list(projections(model))
    done: list[tuple[nn.Module, str, Packed4Linear]] = []
    for parent, name in found:  # one matrix at a time: a (N, K) int32 copy of every weight would be 4x the model
        linear = parent._modules[name]
        if not packable(linear):
            continue
        packed = Packed4Linear(linear, quantize(linear.weight))
        if mode == "auto" and packed.off_grid > ON_GRID:  # not a 4-bit model: leave it as it was
            for done_parent, done_name, done_packed in done:
                setattr(done_parent, done_name, done_packed.base_layer)
            return None
        setattr(parent, name, packed)
        done.append((parent, name, packed))
    if not done:
        return None
    return PackReport(packed=len(done), skipped=len(found) - len(done),
                      off_grid=max(packed.off_grid for *_, packed in done))
