"""The smallest training API: (query, document, summary) triples → padded batch → loss on the summary.

`qfocus train` (accelerate, schedules, checkpoints) builds on these two functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qfocus.hyper.expert import HyperExpert
from qfocus.prompts import ELISION, PromptBuilder, document_budget, keep_head_and_tail

IGNORE = -100


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    labels: torch.Tensor  # (B, T), IGNORE outside the summary tokens
    query_mask: torch.Tensor  # (B, T), True on the query's first occurrence

    def to(self, device) -> "Batch":
        return Batch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.labels, self.query_mask)))


def make_batch(tokenizer, triples: list[tuple[str, str, str]], max_input_tokens: int, max_summary_tokens: int = 256,
               padding_side: str = "left") -> Batch:
    """Prompt (document head and tail kept to fit `max_input_tokens`) + summary + EOS, padded."""
    builder = PromptBuilder(tokenizer)
    rows = []
    for query, document, summary in triples:
        budget = document_budget(max_input_tokens, builder.overhead(query), 0)
        kept = keep_head_and_tail(builder.encode(document), budget, 0.5, builder.encode(ELISION))
        prompt = builder.build(query, kept)
        answer = builder.encode(summary)[:max_summary_tokens] + [tokenizer.eos_token_id]
        rows.append((prompt.input_ids + answer, [IGNORE] * len(prompt) + answer, prompt.query_mask + [False] * len(answer)))
    width = max(len(ids) for ids, _, _ in rows)
    pad = tokenizer.pad_token_id

    def padded(values: list, fill) -> list:
        filler = [fill] * (width - len(values))
        return values + filler if padding_side == "right" else filler + values

    return Batch(
        input_ids=torch.tensor([padded(ids, pad) for ids, _, _ in rows]),
        attention_mask=torch.tensor([padded([1] * len(ids), 0) for ids, _, _ in rows]),
        labels=torch.tensor([padded(labels, IGNORE) for _, labels, _ in rows]),
        query_mask=torch.tensor([padded(mask, False) for _, _, mask in rows]),
    )


def loss_on_batch(model, expert: HyperExpert, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy over the summary tokens, with the query's parameters in effect.

    Logits are computed only for the last positions that hold a label (`logits_to_keep`), so the
    vocabulary projection never runs over the document. With left padding that is just the longest
    summary plus one position, which makes left padding the cheap layout for training.
    """
    has_label = (batch.labels != IGNORE).any(dim=0)  # (T,)
    first = int(has_label.nonzero()[0]) if has_label.any() else batch.labels.shape[1] - 1
    keep = batch.labels.shape[1] - first + 1  # + the position that predicts the first summary token
    with expert.query(batch.query_mask):
        return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                     labels=batch.labels[:, -keep:], logits_to_keep=keep).loss
