"""A naive per-token, per-head reference of the compressive memory (DESIGN §2), in float64 loops.

Written from the equations, independently of `qfocus.memory`: every write, read and gate is a
Python loop over batch, head and token with explicit vector products.
"""

from __future__ import annotations

import math

import torch


def elu1(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, x + 1.0, torch.exp(x))  # ELU(x) + 1


def write(M, Mq, z, keys, values, q_bar=None, mask=None):
    """M, Mq (B, H, d, e); z (B, H, d); keys (B, H, T, d); values (B, H, T, e); q_bar (B, H, d); mask (B, T)."""
    M, Mq, z = M.double().clone(), Mq.double().clone(), z.double().clone()
    B, H, T, d = keys.shape
    newM, newMq, newz = M.clone(), Mq.clone(), z.clone()
    for b in range(B):
        for h in range(H):
            for t in range(T):
                if mask is not None and not mask[b, t]:
                    continue
                k = elu1(keys[b, h, t].double())
                v = values[b, h, t].double()
                norm = float(k @ z[b, h])
                empty = norm <= 1e-6
                retrieved = torch.zeros_like(v) if empty else (k @ M[b, h]) / norm
                newM[b, h] += torch.outer(k, v - retrieved)
                if q_bar is not None:
                    s = 1 / (1 + math.exp(-float(q_bar[b, h].double() @ keys[b, h, t].double()) / math.sqrt(d)))
                    retrieved_q = torch.zeros_like(v) if empty else (k @ Mq[b, h]) / norm
                    newMq[b, h] += torch.outer(k, s * v - retrieved_q)
                newz[b, h] += k
    return newM, newMq, newz


def read(M, Mq, z, queries):
    """queries (B, H·G, T, d) → A_mem, A_qmem (B, H·G, T, e); query head j reads key/value head j // G."""
    B, Hq, T, d = queries.shape
    G = Hq // z.shape[1]
    e = M.shape[-1]
    a_mem = torch.zeros(B, Hq, T, e, dtype=torch.float64)
    a_qmem = torch.zeros_like(a_mem)
    for b in range(B):
        for j in range(Hq):
            h = j // G
            for t in range(T):
                q = elu1(queries[b, j, t].double())
                norm = float(q @ z[b, h].double())
                if norm > 1e-6:
                    a_mem[b, j, t] = (q @ M[b, h].double()) / norm
                    a_qmem[b, j, t] = (q @ Mq[b, h].double()) / norm
    return a_mem, a_qmem
