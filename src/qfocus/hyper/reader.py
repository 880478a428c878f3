"""The wrapper around decoder layer L/2 that turns the query into parameters, inside the forward pass.

The hidden state entering layer L/2, mean-pooled over the query tokens, is the query vector q̄
(DESIGN §1): the lower half of the model encodes the query, no separate encoder. The hypernetwork
maps q̄ to the parameters of the upper layers, which run next in the same forward pass. Later
forward calls of the same `expert.query(...)` context (decoding steps) reuse those parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from qfocus.hyper.context import QueryState
from qfocus.hyper.generator import HyperNetwork, mean_over_mask


class QueryReader(nn.Module):
    def __init__(self, base: nn.Module, hypernetwork: HyperNetwork, state: QueryState, detach_query: bool):
        super().__init__()
        self.base_layer = base
        self.qf_hypernetwork = hypernetwork
        self.state, self.detach_query = state, detach_query

    def __getattr__(self, name: str):  # e.g. `attention_type`, read by some model families
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.base_layer, name)

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        state = self.state
        if state.active and state.generated is None:
            mask = state.query_mask
            if mask.shape != hidden_states.shape[:2]:
                raise ValueError(
                    f"query_mask has shape {tuple(mask.shape)} but the first forward call's input is "
                    f"{tuple(hidden_states.shape[:2])}: pass the mask of the tokens given in that call"
                )
            query = mean_over_mask(hidden_states, mask.to(hidden_states.device))  # (B, d)
            if self.detach_query:
                query = query.detach()
            param = next(self.qf_hypernetwork.parameters())
            state.generated = self.qf_hypernetwork(query.to(param.dtype))  # head → (B, n, size)
        return self.base_layer(hidden_states, *args, **kwargs)
