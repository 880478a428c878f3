"""`qllm` and `stream`: read the whole document with a fixed attention budget and no training.

The prompt (query, whole document, query again) is read in execution blocks through KV-block
attention (`qfocus.blocks`, DESIGN §9). Each token attends to the first `--n-init` tokens (sinks),
its `--n-local` predecessors, and:

  qllm    the `--topk` blocks of `--block-size` past tokens whose representative keys best match the
          current queries plus `--question-weight` times the question's mean query (Q-LLM; with
          --question-weight 0 it is InfLLM)
  stream  nothing more (StreamingLLM: sinks + recent window; nothing stored, constant memory)

Attention per token is constant in the document's length; `qllm` keeps every past block (its
keys, values and representatives), `stream` keeps nothing beyond its window. Batches of queries
decode together. A HyperExpert LoRA or parallel adapter (trained without --memory) may be attached.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from qfocus.config import BlockConfig
from qfocus.documents import check_query, check_text
from qfocus.errors import InputError
from qfocus.generation import Callbacks, generate_with_blocks
from qfocus.models import LoadedModel
from qfocus.prompts import Prompt, PromptBuilder
from qfocus.strategies.base import Strategy, Summary, refuse_memory_adapter, register


class BlockStrategy(Strategy):
    """Reads whole prompts through KV-block attention and decodes from them, several at once."""

    batched = True

    def blocks(self) -> BlockConfig:
        return self.config.blocks

    def check_adapter(self, hyper: dict | None) -> None:
        refuse_memory_adapter(self.name, hyper)
        if hyper is not None and hyper["method"].removeprefix("ideal-") == "prompt":
            raise InputError(f"--strategy {self.name} wraps the attention an adaption-prompt adapter also wraps: "
                             "use a LoRA or parallel-adapter (padapter) adapter with it")

    def prompt(self, lm: LoadedModel, document: str, query: str) -> Prompt:
        """Query, the whole document, query again: nothing is cut."""
        check_text(document)
        builder = PromptBuilder(lm.tokenizer)
        return builder.build(check_query(query), builder.encode(document))

    def summarize(self, lm: LoadedModel, document: str, query: str, callbacks: Callbacks | None = None) -> Summary:
        return self._answer(lm, [(document, query)], callbacks)[0]

    def summarize_batch(self, lm: LoadedModel, items: Sequence[tuple[str, str]]) -> list[Summary]:
        """All items in one read (right-padded rows, each attending on its own: the answers equal one
        at a time); each Summary's seconds is its share of the batch."""
        return self._answer(lm, list(items), None) if items else []

    def _answer(self, lm: LoadedModel, items: list[tuple[str, str]], callbacks: Callbacks | None) -> list[Summary]:
        from qfocus.blocks import attach_blocks

        start = time.perf_counter()
        self.adapter_of(lm)
        prompts = [self.prompt(lm, document, query) for document, query in items]
        handle = attach_blocks(lm.model, self.blocks())
        try:
            answers = generate_with_blocks(lm, handle, [p.input_ids for p in prompts], [p.query_mask for p in prompts],
                                           self.config.generation, callbacks)
        finally:
            handle.detach()
        share = round((time.perf_counter() - start) / len(items), 3)
        return [Summary(summary=a.text, strategy=self.name, model=lm.name, prompt_tokens=len(p),
                        document_tokens=p.document_tokens, truncated_tokens=0, answer_tokens=a.new_tokens, seconds=share)
                for p, a in zip(prompts, answers)]


@register
class QLLM(BlockStrategy):
    name = "qllm"
    description = "whole document, no training: sinks + local window + top-k past blocks retrieved by the query (Q-LLM)"


@register
class Stream(BlockStrategy):
    name = "stream"
    description = "whole document, no training: attention sinks + the recent window only (StreamingLLM)"

    def blocks(self) -> BlockConfig:
        return replace(self.config.blocks, topk=0)
