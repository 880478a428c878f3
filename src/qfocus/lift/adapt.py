"""Fine-tune a LIFT adapter on one document's samples (language-model loss, DESIGN §10).

One sample per step, in a seeded shuffled order per epoch; AdamW with the reference's betas (0.9,
0.98), weight decay 1e-4 and a constant learning rate. The step count is `epochs × samples`, capped
by `lift_steps`, and the loop stops early once `lift_seconds` have passed (after at least one step),
so LIFT can be compared with other strategies at equal wall time. Only the adapter's parameters
take gradients; the model's own `requires_grad` flags are restored afterwards, and the adapter is
detached: what comes back is a value (the tensors and the loss curve), which the caller caches and
loads for answering.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from qfocus.config import LiftConfig
from qfocus.lift.adapters import attach_lift
from qfocus.lift.segments import IGNORE, Sample

StepCallback = Callable[[int, int, float], None]  # (steps done, steps planned, last loss)


@dataclass
class Adapted:
    """What an adaptation produced."""

    tensors: dict[str, torch.Tensor]  # the adapter's parameters by qualified name
    losses: list[float]  # one per step
    planned: int  # steps the settings asked for
    seconds: float
    samples: int  # training samples (segments) per epoch

    @property
    def loss_start(self) -> float:
        """Mean loss of the first epoch's steps (of the first half when fewer than two epochs ran)."""
        return _mean(self.losses[:self._span])

    @property
    def loss_end(self) -> float:
        """Mean loss of the last epoch's steps (of the last half when fewer than two epochs ran)."""
        return _mean(self.losses[-self._span:])

    @property
    def _span(self) -> int:
        return max(1, min(self.samples, len(self.losses) // 2))

    @property
    def steps(self) -> int:
        return len(self.losses)


def step_order(samples: int, config: LiftConfig) -> list[int]:
    """Sample indices in training order: every epoch a new seeded shuffle, capped by lift_steps."""
    rng = random.Random(config.lift_seed)
    order = []
    for _ in range(config.lift_epochs):
        epoch = list(range(samples))
        rng.shuffle(epoch)
        order.extend(epoch)
    return order[:config.lift_steps] if config.lift_steps is not None else order


def adapt(model: nn.Module, samples: list[Sample], config: LiftConfig, on_step: StepCallback | None = None) -> Adapted:
    """Train a fresh adapter on `samples`; the model is left exactly as it was."""
    if not samples:
        raise ValueError("no training samples: the document is empty")
    order = step_order(len(samples), config)
    device = next(model.parameters()).device
    adapter = attach_lift(model, config)
    flags = [(p, p.requires_grad) for p in model.parameters()]
    start, losses = time.perf_counter(), []
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        parameters = list(adapter.parameters().values())
        for p in parameters:
            p.requires_grad_(True)
        optimizer = torch.optim.AdamW(parameters, lr=config.lift_lr, betas=(0.9, 0.98), weight_decay=1e-4)
        with torch.enable_grad():
            for index in order:
                sample = samples[index]
                ids = torch.tensor([sample.input_ids], device=device)  # (1, T)
                labels = torch.tensor([sample.labels], device=device)  # (1, T), -100 before the segment
                loss = model(input_ids=ids, labels=labels, use_cache=False).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                if on_step is not None:
                    on_step(len(losses), len(order), losses[-1])
                if config.lift_seconds is not None and time.perf_counter() - start >= config.lift_seconds:
                    break
        return Adapted(adapter.state(), losses, len(order), time.perf_counter() - start, len(samples))
    finally:
        adapter.detach()
        for p, flag in flags:
            p.requires_grad_(flag)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


@torch.no_grad()
def sample_loss(model: nn.Module, samples: list[Sample]) -> float:
    """Mean language-model loss over `samples` (token-weighted), for before/after comparisons."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for sample in samples:
        ids = torch.tensor([sample.input_ids], device=device)
        labels = torch.tensor([sample.labels], device=device)
        tokens = int((labels[:, 1:] != IGNORE).sum())
        total += float(model(input_ids=ids, labels=labels, use_cache=False).loss) * tokens
        count += tokens
    return total / max(count, 1)
