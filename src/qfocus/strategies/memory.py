"""`ideal` and `infini`: read the whole document, segment by segment, into compressive memory.

Nothing is cut: the prompt (query, whole document, query again) is read in segments of S tokens
with Query-focused Infini-attention (DESIGN §2, `qfocus.memory`), so a document of any length costs
the memory of one segment. The query opens the prompt, so it lies in the first segment, where the
query signal q̄ (and, for `ideal`, the HyperExpert's parameters) are taken from it.

  ideal   HyperExpert + memory: an adapter trained with `qfocus train --method ideal-lora --memory`
  infini  memory attention only: the gates of an adapter trained with `--memory` (e.g. `--method
          none --memory`), or untrained gates (g = 0.5) when no adapter is given
"""

from __future__ import annotations

import time

from qfocus.documents import check_query, check_text
from qfocus.errors import InputError
from qfocus.generation import Callbacks, generate_with_memory
from qfocus.models import LoadedModel
from qfocus.prompts import PromptBuilder
from qfocus.strategies.base import Strategy, Summary, register

DEFAULT_SEGMENT = 1024


class MemoryStrategy(Strategy):
    """Reads the whole prompt through memory attention and decodes from it."""

    def summarize(self, lm: LoadedModel, document: str, query: str, callbacks: Callbacks | None = None) -> Summary:
        start = time.perf_counter()
        check_text(document)
        query = check_query(query)
        self.adapter_of(lm)
        handle, temporary = self.memory(lm)
        try:
            builder = PromptBuilder(lm.tokenizer)
            prompt = builder.build(query, builder.encode(document))
            segment = self.segment(lm)
            query_end = max(i for i, q in enumerate(prompt.query_mask) if q) + 1
            if query_end > segment:
                raise InputError(f"the query ends at token {query_end} but the first segment holds {segment} tokens: "
                                 "shorten the query or raise --segment")
            answer = generate_with_memory(lm, handle, prompt.input_ids, prompt.query_mask, segment,
                                          self.config.generation, callbacks)
        finally:
            if temporary is not None:
                temporary.detach()
        return Summary(summary=answer.text, strategy=self.name, model=lm.name, prompt_tokens=len(prompt),
                       document_tokens=prompt.document_tokens, truncated_tokens=0, answer_tokens=answer.new_tokens,
                       seconds=round(time.perf_counter() - start, 3))

    def memory(self, lm: LoadedModel):
        """(memory handle, the same handle if it was attached for this call only, else None)."""
        if lm.expert is not None:
            return lm.expert.memory, None
        from qfocus.memory.segments import attach_memory

        handle = attach_memory(lm.model)  # untrained gates, removed after the call
        return handle, handle

    def segment(self, lm: LoadedModel) -> int:
        """--segment, else the segment the adapter was trained with, else 1,024."""
        if self.config.segment is not None:
            return self.config.segment
        if lm.expert is not None and lm.expert.memory is not None:
            return lm.expert.config.segment
        return DEFAULT_SEGMENT


@register
class Ideal(MemoryStrategy):
    name = "ideal"
    description = "HyperExpert + query-focused memory over the whole document (needs --adapter trained with --memory)"

    def check_adapter(self, hyper: dict | None) -> None:
        if hyper is None or not hyper["method"].startswith("ideal-") or not hyper.get("memory"):
            what = "no adapter" if hyper is None else f"an adapter of method {hyper['method']}" + (
                "" if hyper.get("memory") else " without memory")
            raise InputError(f"--strategy ideal needs an IDEAL adapter trained with memory, got {what}: "
                             "train one with `qfocus train --method ideal-lora --memory` and pass --adapter")


@register
class Infini(MemoryStrategy):
    name = "infini"
    description = "query-focused memory over the whole document; an --adapter's trained gates, else untrained ones"

    def check_adapter(self, hyper: dict | None) -> None:
        if hyper is not None and not hyper.get("memory"):
            raise InputError(f"--strategy infini needs an adapter trained with --memory (this one is "
                             f"{hyper['method']} without memory): use --strategy truncate with it")
