"""`mapreduce`: answer the query on every window-sized chunk, then combine the partial answers.

LangChain's map_reduce / LlamaIndex's tree_summarize: map = the query answered on each chunk (chunks
batched, `--map-batch` per call); reduce = the partial answers, labelled by part and in document
order, become the document of one more prompt. While they do not fit one prompt they are combined in
groups first (recursively; every group holds at least two answers, so each level is shorter).
"""

from __future__ import annotations

import time

from qfocus.documents import check_query, check_text
from qfocus.errors import InputError
from qfocus.generation import Callbacks
from qfocus.models import LoadedModel
from qfocus.prompts import PromptBuilder, document_budget
from qfocus.strategies.base import Strategy, Summary, refuse_memory_adapter, register
from qfocus.strategies.chunks import Calls, chunk_ids

LABEL = "Answer from part {n}:\n"
JOIN = "\n\n"


@register
class MapReduce(Strategy):
    name = "mapreduce"
    description = "answer on every chunk (batched), then combine the partial answers, recursively"

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
        if budget < 2 * (max_new + len(builder.encode(LABEL.format(n=999) + JOIN))):
            raise InputError(f"mapreduce needs room for two partial answers in the {window}-token window: "
                             f"lower --max-new-tokens or raise --context-window")
        calls = Calls(lm, self.config.generation)
        chunks = chunk_ids(lm, document, budget)
        progress = (lambda done, total: callbacks.on_progress("answering chunks", done, total)) if callbacks.on_progress else None
        if len(chunks) == 1:
            answer = calls.one(builder.build(query, chunks[0]), callbacks)
        else:
            partials = calls.batch([builder.build(query, c) for c in chunks], self.config.retrieval.map_batch, progress)
            answer = self._reduce(builder, calls, query, [p.text for p in partials], budget, callbacks)
        return Summary(summary=answer.text, strategy=self.name, model=lm.name, prompt_tokens=calls.tokens_read,
                       document_tokens=sum(map(len, chunks)), truncated_tokens=0, answer_tokens=answer.new_tokens,
                       seconds=round(time.perf_counter() - start, 3), model_calls=calls.calls)

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
