"""`refine`: a running answer revised with each chunk in turn (LangChain / LlamaIndex `refine`).

The first chunk is answered as usual; every later prompt holds the answer so far and the next chunk,
and the model rewrites the answer. Chunks are sized so that the answer so far (at most
--max-new-tokens) always fits beside them. One model call per chunk, in order (not batchable).
"""

from __future__ import annotations

import time

from qfocus.documents import check_query, check_text
from qfocus.generation import Callbacks
from qfocus.models import LoadedModel
from qfocus.prompts import PromptBuilder, document_budget
from qfocus.strategies.base import Strategy, Summary, refuse_memory_adapter, register
from qfocus.strategies.chunks import Calls, chunk_ids

EARLIER = "Answer so far (from the earlier parts of the document):\n{answer}\n\nNext part of the document:\n"


@register
class Refine(Strategy):
    name = "refine"
    description = "a running answer revised with each chunk of the document in turn"

    def check_adapter(self, hyper: dict | None) -> None:
        refuse_memory_adapter(self.name, hyper)

    def summarize(self, lm: LoadedModel, document: str, query: str, callbacks: Callbacks | None = None) -> Summary:
        start = time.perf_counter()
        self.adapter_of(lm)
        check_text(document)
        query = check_query(query)
        callbacks = callbacks or Callbacks()
        builder = PromptBuilder(lm.tokenizer)
        window = self.config.context_window or lm.context_window
        max_new = self.config.generation.max_new_tokens
        budget = document_budget(window, builder.overhead(query), max_new)
        reserve = max_new + len(builder.encode(EARLIER.format(answer="")))
        chunks = chunk_ids(lm, document, max(1, budget - reserve))
        calls, answer = Calls(lm, self.config.generation), None
        for i, chunk in enumerate(chunks):
            earlier = builder.encode(EARLIER.format(answer=answer.text))[: reserve] if answer is not None else []
            last = i == len(chunks) - 1
            answer = calls.one(builder.build(query, earlier + chunk), callbacks if last else None)
            if callbacks.on_progress is not None:
                callbacks.on_progress("refining over chunks", i + 1, len(chunks))
        return Summary(summary=answer.text, strategy=self.name, model=lm.name, prompt_tokens=calls.tokens_read,
                       document_tokens=sum(map(len, chunks)), truncated_tokens=0, answer_tokens=answer.new_tokens,
                       seconds=round(time.perf_counter() - start, 3), model_calls=calls.calls)
