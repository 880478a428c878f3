"""`refine`: a running answer revised with each chunk in turn (LangChain / LlamaIndex `refine`).

The first chunk is answered as usual; every later prompt holds the answer so far and the next chunk,
and the model rewrites the answer. Chunks are sized so that the answer so far (at most
--max-new-tokens) always fits beside them. One model call per chunk, in order (not batchable).
"""

from __future__ import annotations

from qfocus.generation import Callbacks, Generated
from qfocus.prompts import PromptBuilder
from qfocus.strategies.base import register
from qfocus.strategies.chunks import Calls, ChunkedStrategy, chunk_ids

EARLIER = "Answer so far (from the earlier parts of the document):\n{answer}\n\nNext part of the document:\n"


@register
class Refine(ChunkedStrategy):
    name = "refine"
    description = "a running answer revised with each chunk of the document in turn"

    def read(self, calls: Calls, builder: PromptBuilder, document: str, query: str, budget: int,
             callbacks: Callbacks) -> tuple[Generated, int]:
        reserve = self.config.generation.max_new_tokens + len(builder.encode(EARLIER.format(answer="")))
        chunks = chunk_ids(calls.lm, document, max(1, budget - reserve))
        answer = None
        for i, chunk in enumerate(chunks):
            earlier = builder.encode(EARLIER.format(answer=answer.text))[:reserve] if answer is not None else []
            last = i == len(chunks) - 1
            answer = calls.one(builder.build(query, earlier + chunk), callbacks if last else None)
            if callbacks.on_progress is not None:
                callbacks.on_progress("refining over chunks", i + 1, len(chunks))
        return answer, sum(map(len, chunks))
