"""One training step over a batch read in segments: forward and backward segment by segment.

The reference does not back-propagate through the memory across segments (DESIGN §2): after each
segment its loss is back-propagated at once and the memory it wrote is detached, so activations of
one segment exist at a time however long the input. What crosses segments with gradient is only
what the query produced in the first segment: q̄ for the query-focused write (detached with the
memory), and the HyperExpert's generated parameters, whose small graph (hypernetwork on the pooled
query) is kept until the last segment's backward.

    loss = segment_loss(model, expert, batch, backward=accelerator.backward)   # returns the detached loss

Batches must be right-padded so that every row's query lies in the first segment.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace

import torch
import torch.nn.functional as F

from qfocus.errors import InputError
from qfocus.hyper.training import IGNORE, Batch
from qfocus.memory.attention import MemoryAttention, ReadState
from qfocus.memory.segments import read


def segment_loss(model, expert, batch: Batch, backward: Callable[..., None] = torch.Tensor.backward,
                 no_sync: Callable[[], object] = nullcontext) -> torch.Tensor:
    """Mean cross-entropy over the summary tokens, back-propagated one segment at a time.

    `backward(loss, retain_graph=...)` is called once per segment that holds labels (pass
    `accelerator.backward`); all but the last run inside `no_sync()` (pass
    `lambda: accelerator.no_sync(model)`), so multi-process training reduces gradients once.
    Returns the loss value, detached.
    """
    handle, segment = expert.memory, expert.config.segment
    query_end = int(batch.query_mask.any(0).nonzero().max()) + 1
    if query_end > segment:
        raise InputError(f"the query ends at token {query_end}, after the first {segment}-token segment: "
                         "raise --segment or shorten the query")
    # position t predicts token t+1: the target of position t is labels[t+1]
    targets = torch.cat([batch.labels[:, 1:], torch.full_like(batch.labels[:, :1], IGNORE)], 1)  # (B, T)
    count = int((targets != IGNORE).sum())
    length = batch.input_ids.shape[1]
    bounds = list(range(0, length, segment)) + [length]
    labelled = [start for start, end in zip(bounds, bounds[1:]) if (targets[:, start:end] != IGNORE).any()]
    if not labelled:
        raise InputError("the batch has no summary tokens to learn from")
    state, total = ReadState(), torch.zeros((), device=batch.input_ids.device)
    with expert.query(batch.query_mask[:, :min(segment, length)]):
        for start, end in zip(bounds, bounds[1:]):
            seg_targets = targets[:, start:end]
            keep = (seg_targets != IGNORE).any(0).nonzero().squeeze(1)  # positions of this segment with a target
            logits, state = read(model, handle, batch.input_ids[:, start:end],
                                 batch.query_mask[:, start:end] if start == 0 else None, segment, state,
                                 attention_mask=batch.attention_mask[:, start:end], position=start,
                                 logits_to_keep=keep if len(keep) else 1)
            if len(keep):
                loss = F.cross_entropy(logits.float().flatten(0, 1), seg_targets[:, keep].flatten(),
                                       ignore_index=IGNORE, reduction="sum") / count
                last = start == labelled[-1]
                with nullcontext() if last else no_sync():
                    # the generated parameters' graph serves every segment: keep it until the last one
                    backward(loss, retain_graph=not last)
                total = total + loss.detach()
                del loss
            del logits  # drop this segment's graph before the next forward builds one
            state = _detached(state)
            if start >= labelled[-1]:
                break  # nothing after the last label is needed
    return total


def _detached(state: ReadState) -> ReadState:
    """Cut the memory (and q̄) from the graph: no gradient flows from one segment into an earlier one."""
    return replace(state, memories={k: m.detach() for k, m in state.memories.items()},
                   q_bars={k: q.detach() for k, q in state.q_bars.items()})


def gate_values(model: torch.nn.Module) -> dict[str, float]:
    """Summary of the memory gates to log: mean, min and max of g = sigmoid(β) over layers and heads,
    and the mean query-memory gate bias sigmoid(b)."""
    wrappers = [m for m in model.modules() if isinstance(m, MemoryAttention)]
    if not wrappers:
        return {}
    with torch.no_grad():
        g = torch.sigmoid(torch.cat([m.qf_beta.detach().float().flatten() for m in wrappers]))
        b = torch.sigmoid(torch.cat([m.qf_gate_bias.detach().float().flatten() for m in wrappers]))
    return {"gate_mean": round(float(g.mean()), 5), "gate_min": round(float(g.min()), 5),
            "gate_max": round(float(g.max()), 5), "query_gate_bias_mean": round(float(b.mean()), 5)}
