"""Chunk-wise reading shared by `mapreduce` and `refine` (the LangChain / LlamaIndex chains).

The document is cut at its own lines into chunks that each fill one prompt (qfocus.retrieval's
passages with P = the chunk budget), and every model call is counted with the tokens it read.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import dataclass, field

from qfocus.config import GenerationConfig
from qfocus.documents import check_query, check_text
from qfocus.generation import Callbacks, Generated, generate, generate_batch
from qfocus.models import LoadedModel
from qfocus.prompts import Prompt, PromptBuilder
from qfocus.retrieval import split_passages, tokenize
from qfocus.strategies.base import Strategy, Summary, refuse_memory_adapter


def chunk_ids(lm: LoadedModel, document: str, size: int) -> list[list[int]]:
    """The document's ids in chunks of at most `size` tokens, cut between lines where possible."""
    doc = tokenize(lm.tokenizer, document)
    return [doc.ids[p.token_start : p.token_end] for p in split_passages(doc, size) if p.tokens]


@dataclass
class Calls:
    """Counts model calls and the prompt tokens they read."""

    lm: LoadedModel
    generation: GenerationConfig
    calls: int = 0
    tokens_read: int = 0
    prompts: list[int] = field(default_factory=list)  # each call's prompt length, in order

    def one(self, prompt: Prompt, callbacks: Callbacks | None = None) -> Generated:
        self._count([prompt])
        return generate(self.lm, prompt.input_ids, self.generation, callbacks, prompt.query_mask)

    def batch(self, prompts: list[Prompt], size: int, on_done=None) -> list[Generated]:
        """Answers to `prompts`, `size` per batched generate call."""
        answers = []
        for begin in range(0, len(prompts), size):
            group = prompts[begin : begin + size]
            self._count(group)
            answers += generate_batch(self.lm, [p.input_ids for p in group], self.generation,
                                      [p.query_mask for p in group])
            if on_done is not None:
                on_done(len(answers), len(prompts))
        return answers

    def _count(self, prompts: list[Prompt]) -> None:
        self.calls += len(prompts)
        self.prompts += [len(p) for p in prompts]
        self.tokens_read += sum(len(p) for p in prompts)


class ChunkedStrategy(Strategy):
    """A strategy that reads the whole document in window-sized chunks over several model calls;
    `read` decides the calls, this class checks the input and reports calls and tokens read."""

    def check_adapter(self, hyper: dict | None) -> None:
        refuse_memory_adapter(self.name, hyper)

    @abstractmethod
    def read(self, calls: Calls, builder: PromptBuilder, document: str, query: str, budget: int,
             callbacks: Callbacks) -> tuple[Generated, int]:
        """(the final answer, document tokens read) with at most `budget` document tokens per prompt."""

    def summarize(self, lm: LoadedModel, document: str, query: str, callbacks: Callbacks | None = None) -> Summary:
        start = time.perf_counter()
        self.adapter_of(lm)
        check_text(document)
        query = check_query(query)
        builder, budget = self.budget(lm, query)
        calls = Calls(lm, self.config.generation)
        answer, document_tokens = self.read(calls, builder, document, query, budget, callbacks or Callbacks())
        return Summary(summary=answer.text, strategy=self.name, model=lm.name, prompt_tokens=calls.tokens_read,
                       document_tokens=document_tokens, truncated_tokens=0, answer_tokens=answer.new_tokens,
                       seconds=round(time.perf_counter() - start, 3), model_calls=calls.calls)
