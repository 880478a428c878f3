"""LIFT v2's auxiliary QA: the model writes question-answer pairs about the document itself.

Random passages of the document (`span` tokens each, seeded) are shown to the model with an
instruction to write one question the passage answers and its answer; the pairs that parse become
training samples in the answering format — the question with the truncated document (head and tail,
as `truncate` builds it) as the prompt, the answer as the only target — so the adapter learns to
use what the segments memorise, not only to recite it (reference: 10-30 pairs from 16-sentence
windows, written by a larger model; here the answering model writes them, greedy, in one batch).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from qfocus.config import GenerationConfig
from qfocus.errors import InputError
from qfocus.generation import generate_batch
from qfocus.lift.segments import Sample
from qfocus.models import LoadedModel
from qfocus.prompts import ELISION, PromptBuilder, document_budget, keep_head_and_tail

MESSAGE = ("Write one question that the passage below answers, and the answer, exactly in this form:\n"
           "Question: <the question>\nAnswer: <the answer>\n\nPassage:\n{query}")
PAIR = re.compile(r"Question:\s*(?P<question>.+?)\s*Answer:\s*(?P<answer>.+)", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Pair:
    question: str
    answer: str


def parse_pair(text: str) -> Pair | None:
    """The first 'Question: … Answer: …' in `text` (the answer ends at a following 'Question:'), or None."""
    found = PAIR.search(text)
    if found is None:
        return None
    question = " ".join(found["question"].split())
    answer = " ".join(re.split(r"\n\s*(?:Question|Evidence):", found["answer"], flags=re.IGNORECASE)[0].split())
    return Pair(question, answer) if question and answer else None


def passages(document: list[int], count: int, span: int, rng: random.Random) -> list[list[int]]:
    """`count` random windows of `span` tokens (the whole document if it is shorter)."""
    last = max(0, len(document) - span)
    return [document[start:start + span] for start in (rng.randint(0, last) for _ in range(count))]


def write_pairs(lm: LoadedModel, document: list[int], count: int, span: int, rng: random.Random,
                generation: GenerationConfig) -> list[Pair]:
    """Ask the model for one pair per random passage, all in one batch; the pairs that parse."""
    builder = PromptBuilder(lm.tokenizer)
    prompts = [builder.instruction(MESSAGE, lm.tokenizer.decode(p)) for p in passages(document, count, span, rng)]
    greedy = replace(generation, temperature=0.0, max_new_tokens=96)
    answers = generate_batch(lm, [p.input_ids for p in prompts], greedy, [p.query_mask for p in prompts])
    return [pair for pair in map(parse_pair, (a.text for a in answers)) if pair is not None]


def qa_samples(builder: PromptBuilder, pairs: list[Pair], document: list[int], window: int,
               end_token: int | None) -> list[Sample]:
    """One sample per pair: the answering prompt (question + head/tail of the document), then the
    answer (and the end-of-turn token), with the loss on the answer alone."""
    samples = []
    for pair in pairs:
        answer = builder.encode(pair.answer) + ([end_token] if end_token is not None else [])
        try:
            budget = document_budget(window, builder.overhead(pair.question), len(answer))
        except InputError:  # a question and answer too long to leave room for any document: skip the pair
            continue
        prompt = builder.build(pair.question, keep_head_and_tail(document, budget, 0.5, builder.encode(ELISION)))
        samples.append(Sample(prompt.input_ids + answer, len(prompt.input_ids)))
    return samples
