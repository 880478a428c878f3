"""MuGI query expansion (Zhang et al., seed 001): the LLM writes k short pseudo-answers to the query
from its own knowledge, and they join the query for BM25 and for the dense query vector.

The paper's findings used here: more samples help (k sampled answers, one batched call); the query
must be balanced against the longer pseudo-answers (`Query.lexical` repeats it).
"""

from __future__ import annotations

from dataclasses import replace

from qfocus.config import GenerationConfig, RetrievalConfig
from qfocus.generation import generate_batch
from qfocus.models import LoadedModel
from qfocus.prompts import PromptBuilder
from qfocus.retrieval.index import Query

MESSAGE = "Write a short passage, in the words a meeting or a story would use, that answers this question:\n{query}"
TEMPERATURE = 0.8  # diverse samples; MuGI samples rather than decoding greedily


def expand(lm: LoadedModel, query: str, config: RetrievalConfig, generation: GenerationConfig) -> Query:
    """`query` with `config.mugi_answers` pseudo-answers (the plain query when MuGI is off)."""
    if not config.mugi:
        return Query(query)
    prompt = PromptBuilder(lm.tokenizer).instruction(MESSAGE, query)
    sampling = replace(generation, temperature=TEMPERATURE, max_new_tokens=config.mugi_tokens)
    answers = generate_batch(lm, [prompt.input_ids] * config.mugi_answers, sampling,
                             [prompt.query_mask] * config.mugi_answers)
    return Query(query, tuple(a.text for a in answers if a.text))
