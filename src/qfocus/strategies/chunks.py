"""Chunk-wise reading shared by `mapreduce` and `refine` (the LangChain / LlamaIndex chains).

The document is cut at its own lines into chunks that each fill one prompt (qfocus.retrieval's
passages with P = the chunk budget), and every model call is counted with the tokens it read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qfocus.config import GenerationConfig
from qfocus.generation import Callbacks, Generated, generate, generate_batch
from qfocus.models import LoadedModel
from qfocus.prompts import Prompt
from qfocus.retrieval import split_passages, tokenize


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
