"""The compressive memory of Query-focused Infini-attention (DESIGN §2) as pure functions.

A `Memory` is a value: `write` returns a new one, nothing is mutated, and a layer's state is passed
in and returned by whoever runs the segments. Per layer and key/value head:

    M   ∈ R^{d×e}  associative memory            M   ← M   + σ(K)ᵀ (V   − σ(K)M   / σ(K)z)   (delta rule)
    M_q ∈ R^{d×e}  query-focused memory          M_q ← M_q + σ(K)ᵀ (V^q − σ(K)M_q / σ(K)z),  V^q = s ⊙ V
    z   ∈ R^{d}    normaliser                    z   ← z   + Σ_t σ(K_t)

with σ(x) = ELU(x) + 1 and s_t = sigmoid(q̄·K_t / √d), q̄ the mean pre-RoPE query over the query
tokens. On the first write M = 0 and z = 0, so the retrieval term is dropped: M = σ(K)ᵀV.
Reading with the pre-RoPE queries Q gives A_mem = σ(Q)M / σ(Q)z and A_qmem = σ(Q)M_q / σ(Q)z, and
`mix` blends them with the segment's own dot-product attention through the two gates.

Shapes: B batch, H key/value heads, G query heads per key/value head (grouped-query attention),
T tokens in the segment, d key width, e value width. All memory arithmetic is fp32 whatever the
model's dtype; results are clamped to ±`BOUND` and non-finite values replaced, so a long run in
bf16/fp16 cannot poison the state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

BOUND = 1e4  # |entries| of M, M_q and reads are kept below this
EPS = 1e-6  # smallest normaliser σ(k)·z treated as non-empty memory


@dataclass(frozen=True)
class Memory:
    M: torch.Tensor  # (B, H, d, e) fp32
    Mq: torch.Tensor  # (B, H, d, e) fp32
    z: torch.Tensor  # (B, H, d) fp32

    @staticmethod
    def empty(batch: int, heads: int, key_dim: int, value_dim: int, device=None) -> "Memory":
        zeros = torch.zeros(batch, heads, key_dim, value_dim, device=device, dtype=torch.float32)
        return Memory(zeros, zeros.clone(), torch.zeros(batch, heads, key_dim, device=device, dtype=torch.float32))

    def detach(self) -> "Memory":
        """The same state cut from the autograd graph (training does not back-propagate across segments)."""
        return Memory(self.M.detach(), self.Mq.detach(), self.z.detach())


def sigma(x: torch.Tensor) -> torch.Tensor:
    """σ(x) = ELU(x) + 1: a positive feature map, so σ(q)·z > 0 once anything was written."""
    return F.elu(x) + 1.0


def query_signal(queries: torch.Tensor, query_mask: torch.Tensor, groups: int) -> torch.Tensor:
    """q̄: mean pre-RoPE query over the query tokens, averaged over the G heads sharing a key/value head.

    queries (B, H·G, T, d), query_mask (B, T) bool → (B, H, d) fp32.
    """
    b, hq, t, d = queries.shape
    weights = query_mask.to(torch.float32)[:, None, :, None]  # (B, 1, T, 1)
    mean = (queries.float() * weights).sum(2) / weights.sum(2).clamp_min(1.0)  # (B, H·G, d)
    return mean.view(b, hq // groups, groups, d).mean(2)  # (B, H, d)


def write(memory: Memory, keys: torch.Tensor, values: torch.Tensor, q_bar: torch.Tensor | None = None,
          mask: torch.Tensor | None = None) -> Memory:
    """Write one segment: keys (B, H, T, d) and values (B, H, T, e) before RoPE; q̄ (B, H, d) or None
    (then M_q is left as is); mask (B, T), False for padding, which writes nothing."""
    k = sigma(keys.float())  # (B, H, T, d)
    v = values.float()  # (B, H, T, e)
    if mask is not None:
        k = k * mask.to(k.dtype)[:, None, :, None]
    norm = torch.einsum("bhtd,bhd->bht", k, memory.z).unsqueeze(-1)  # (B, H, T, 1): σ(K)z
    filled = norm > EPS  # empty memory (first write): no retrieval term
    safe = norm.clamp_min(EPS)

    def delta_update(state: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        retrieved = torch.where(filled, torch.einsum("bhtd,bhde->bhte", k, state) / safe, 0.0)  # (B, H, T, e)
        return _guard(state + torch.einsum("bhtd,bhte->bhde", k, target - retrieved))

    M = delta_update(memory.M, v)
    Mq = memory.Mq
    if q_bar is not None:
        s = torch.sigmoid(torch.einsum("bhtd,bhd->bht", keys.float(), q_bar.float()) / math.sqrt(keys.shape[-1]))
        Mq = delta_update(memory.Mq, s.unsqueeze(-1) * v)  # V^q = s ⊙ V
    z = memory.z + k.sum(2)  # (B, H, d)
    return Memory(M, Mq, z)


def read(memory: Memory, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """queries (B, H·G, T, d) before RoPE → (A_mem, A_qmem), each (B, H·G, T, e) fp32.

    Where the memory is empty (σ(Q)z = 0) both reads are zero.
    """
    b, hq, t, d = queries.shape
    heads = memory.z.shape[1]
    q = sigma(queries.float()).view(b, heads, hq // heads, t, d)  # (B, H, G, T, d)
    norm = torch.einsum("bhgtd,bhd->bhgt", q, memory.z).unsqueeze(-1)  # (B, H, G, T, 1)
    scale = torch.where(norm > EPS, 1.0 / norm.clamp_min(EPS), 0.0)
    a_mem = torch.einsum("bhgtd,bhde->bhgte", q, memory.M) * scale
    a_qmem = torch.einsum("bhgtd,bhde->bhgte", q, memory.Mq) * scale
    e = memory.M.shape[-1]
    return _guard(a_mem).reshape(b, hq, t, e), _guard(a_qmem).reshape(b, hq, t, e)


def mix(a_dot: torch.Tensor, a_mem: torch.Tensor, a_qmem: torch.Tensor, beta: torch.Tensor, gate_weight: torch.Tensor,
        gate_bias: torch.Tensor) -> torch.Tensor:
    """A = g·[(1−g_m)·A_mem + g_m·A_qmem] + (1−g)·A_dot with g = sigmoid(β_h) per head and
    g_m = sigmoid(w_h·A_qmem + b_h) per token and head.

    a_* (B, Hq, T, e); beta, gate_bias (Hq,); gate_weight (Hq, e). Returns a_dot's dtype.
    """
    g = torch.sigmoid(beta.float()).view(1, -1, 1, 1)  # (1, Hq, 1, 1)
    g_m = torch.sigmoid(torch.einsum("bhte,he->bht", a_qmem, gate_weight.float()) + gate_bias.float().view(1, -1, 1))
    g_m = g_m.unsqueeze(-1)  # (B, Hq, T, 1)
    memory = (1 - g_m) * a_mem + g_m * a_qmem
    return (g * memory + (1 - g) * a_dot.float()).to(a_dot.dtype)


def _guard(x: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(x, nan=0.0, posinf=BOUND, neginf=-BOUND).clamp(-BOUND, BOUND)
