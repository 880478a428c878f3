"""`mapreduce`: answer the query on every window-sized chunk, then combine the partial answers.

LangChain's map_reduce / LlamaIndex's tree_summarize: map = the query answered on each chunk (chunks
batched, `--map-batch` per call); reduce = the partial answers, labelled by part and in document
order, become the document of one more prompt. While they do not fit one prompt they are combined in
groups first (recursively; every group holds at least two answers, so each level is shorter).
"""

from __future__ import annotations

from qfocus.errors import InputError
from qfocus.generation import Callbacks, Generated
from qfocus.prompts import PromptBuilder
from qfocus.strategies.base import register
from qfocus.strategies.chunks import Calls, ChunkedStrategy, chunk_ids

LABEL = "Answer from part {n}:\n"
JOIN = "\n\n"


@register
class MapReduce(ChunkedStrategy):
    name = "mapreduce"
    retrieval_settings = ("map_batch",)
    description = "answer on every chunk (batched), then combine the partial answers, recursively"

    def read(self, calls: Calls, builder: PromptBuilder, document: str, query: str, budget: int,
             callbacks: Callbacks) -> tuple[Generated, int]:
        max_new = self.config.generation.max_new_tokens
        if budget < 2 * (max_new + len(builder.encode(LABEL.format(n=999) + JOIN))):
            raise InputError(f"mapreduce needs room for two partial answers beside the query in the window "
                             f"({budget} document tokens): lower --max-new-tokens or raise --context-window")
        chunks = chunk_ids(calls.lm, document, budget)
        if len(chunks) == 1:
            return calls.one(builder.build(query, chunks[0]), callbacks), len(chunks[0])
        progress = None
        if callbacks.on_progress is not None:
            progress = lambda done, total: callbacks.on_progress("answering chunks", done, total)  # noqa: E731
        partials = calls.batch([builder.build(query, c) for c in chunks], self.config.retrieval.map_batch, progress)
        answer = self._reduce(builder, calls, query, [p.text for p in partials], budget, callbacks)
        return answer, sum(map(len, chunks))

    def _reduce(self, builder: PromptBuilder, calls: Calls, query: str, partials: list[str], budget: int,
                callbacks: Callbacks):
        """Combine `partials` into one answer, grouping them while they do not fit one prompt; a group
        of one answer passes to the next level as it is."""
        while True:
            groups = _groups(builder, partials, budget)
            if len(groups) == 1:
                return calls.one(builder.build(query, groups[0][0]), callbacks)
            combined = [g for g in groups if len(g[1]) > 1]
            answers = iter(calls.batch([builder.build(query, ids) for ids, _ in combined], self.config.retrieval.map_batch))
            partials = [next(answers).text if len(texts) > 1 else texts[0] for _, texts in groups]


def _groups(builder: PromptBuilder, partials: list[str], budget: int) -> list[tuple[list[int], list[str]]]:
    """Consecutive partial answers joined (labelled) into documents of at most `budget` tokens, with the
    answers each holds. An answer is cut to half the budget, so any two fit: every group but the last
    holds at least two, and each level has fewer answers than the one before."""
    groups: list[tuple[list[int], list[str]]] = [([], [])]
    for i, text in enumerate(partials):
        piece = builder.encode(LABEL.format(n=i + 1) + text + JOIN)[: budget // 2]
        if groups[-1][0] and len(groups[-1][0]) + len(piece) > budget:
            groups.append(([], []))
        groups[-1][0].extend(piece)
        groups[-1][1].append(text)
    return groups
