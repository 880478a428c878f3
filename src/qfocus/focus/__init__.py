"""FocusLLM (DESIGN.md §11): parallel decoding over chunks with candidate tokens.

    handle = attach_focus(model)          # candidate q/k/v/o per layer, copies of the base ones
    state = read_chunks(model, handle.context, chunks, prompt, batch)
    logits = local_logits(model, handle.context, state, local_ids)
    handle.save(folder); handle.load(folder); handle.detach()
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from qfocus.errors import InputError
from qfocus.focus.attention import CandidateProjections, FocusAttention, FocusContext, FocusStep
from qfocus.focus.read import FocusState, candidate_cache, local_logits, read_chunks, split, step_chunks
from qfocus.models import anatomy

WEIGHTS, CONFIG = "focus.safetensors", "focus_config.json"

__all__ = ["FocusHandle", "FocusState", "FocusStep", "attach_focus", "candidate_cache", "local_logits", "read_chunks", "split",
           "step_chunks", "CandidateProjections"]


@dataclass
class FocusHandle:
    """The wrapped model's FocusLLM parts: the shared context and the candidate projections."""

    model: torch.nn.Module
    context: FocusContext
    wrapped: anatomy.WrappedAttention

    def candidate_parameters(self) -> dict[str, torch.nn.Parameter]:
        """`layers.{i}.{q,k,v,o}_proj.{weight,bias}`: what training updates and `save` writes."""
        return {f"layers.{i}.{name}": p for i, attn in self.attentions()
                for name, p in attn.candidate.named_parameters()}

    def attentions(self):
        for index, holder in anatomy.attention_holders(self.model):
            if isinstance(holder.self_attn, FocusAttention):
                yield index, holder.self_attn

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous() for k, v in self.candidate_parameters().items()}, folder / WEIGHTS)
        (folder / CONFIG).write_text(json.dumps({"format": 1, "model_type": self.model.config.model_type,
                                                 "layers": len(anatomy.decoder_layers(self.model))}, indent=2) + "\n")

    def load(self, folder: str | Path) -> None:
        folder = Path(folder)
        if not (folder / WEIGHTS).is_file():
            raise InputError(f"{folder} holds no FocusLLM candidate projections ({WEIGHTS}): train them with "
                             "`qfocus train --method focus`, or run focus untrained")
        saved, mine = load_file(folder / WEIGHTS), self.candidate_parameters()
        if saved.keys() != mine.keys() or any(saved[k].shape != mine[k].shape for k in mine):
            raise InputError(f"{folder}: its candidate projections were trained for another model")
        with torch.no_grad():
            for name, parameter in mine.items():
                parameter.copy_(saved[name].to(parameter.dtype))

    load_weights = load  # the name `qfocus.train.checkpoint` restores adapters by

    def parameter_counts(self) -> dict[str, int]:
        n = sum(p.numel() for p in self.candidate_parameters().values())
        base = sum(p.numel() for name, p in self.model.named_parameters() if ".candidate." not in name)
        return {"adapter": n, "trainable": n, "base": base}

    def detach(self) -> torch.nn.Module:
        return self.wrapped.detach()


def attach_focus(model: torch.nn.Module) -> FocusHandle:
    """Wrap every layer's attention with FocusLLM's (a plain forward stays unchanged)."""
    windows = {anatomy.sliding_window(attn.self_attn) for _, attn in anatomy.attention_holders(model)} - {None}
    context = FocusContext(max(windows) if windows else None)  # the families here have one window size
    wrapped = anatomy.wrap_attention(
        model, lambda index, attn: FocusAttention(attn, index, context, anatomy.rotary_at(model, attn)))
    return FocusHandle(model, context, wrapped)
