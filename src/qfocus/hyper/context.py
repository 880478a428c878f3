"""How per-query parameters reach the adapted layers: one shared state, set by one context.

    with expert.query(query_mask):      # (B, T) bool, from the prompt builder
        model(input_ids, ...)           # the layer entering L/2 reads q̄, the hypernetwork fills
                                        # `state.generated`; upper layers read their slice
    # always cleared on exit, also on error

The state lives for one call (one training step, or one whole generation: decode steps reuse the
parameters generated during prefill). Adapters hold a `GeneratedSlot`, a plain reference into it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch


@dataclass
class QueryState:
    query_mask: torch.Tensor | None = None  # (B, T): query tokens of the next forward's input
    generated: dict[str, torch.Tensor] | None = None  # head → (B, n_layers, size)
    active: bool = False

    @contextmanager
    def query(self, query_mask: torch.Tensor):
        if query_mask.dim() != 2 or not bool(query_mask.any(dim=1).all()):
            raise ValueError("query_mask must be (batch, tokens) with at least one query token in every row")
        self.query_mask, self.generated, self.active = query_mask.bool(), None, True
        try:
            yield self
        finally:
            self.query_mask, self.generated, self.active = None, None, False


@dataclass
class GeneratedSlot:
    """One adapter's share of the generated parameters: head `head`, generated-layer index `index`."""

    state: QueryState = field(repr=False)
    head: str
    index: int

    def __call__(self) -> torch.Tensor:
        if self.state.generated is None:
            raise RuntimeError(
                "IDEAL adapters need the query: run the model inside `with expert.query(query_mask):` "
                "with the query tokens in the first forward call"
            )
        return self.state.generated[self.head][:, self.index]  # (B, size)


def project_down(x: torch.Tensor, static: torch.Tensor | None, slot: GeneratedSlot | None, width: int) -> torch.Tensor:
    """x (B, T, d) → (B, T, width) through a static (d, width) matrix or per-example (B, d, width) ones.

    The per-example case is one batched einsum: no loop over the batch, no ΔW, no per-token copy.
    """
    if slot is None:
        return x @ static  # (B, T, w)
    down = slot().view(x.shape[0], -1, width)  # (B, d, w)
    return torch.einsum("btd,bdw->btw", x, down.to(x.dtype))
