"""The synthetic-data strategies, one seed item at a time (DESIGN §13).

- `instructds` (InstructDS): the teacher writes questions that a reference summary answers
  (summary-anchored query generation), the filter drops bad ones (`filters`), and the teacher
  writes each kept question's summary from the document (query-based summary generation).
- `answer-aug`: a new answer by the teacher to a seed query (answer augmentation).
- `rephrase`: the seed query reworded by the teacher, its human reference kept.
- `new-question`: a new question about an excerpt of the document, answered from the whole document.

Each returns the triples it made and why it dropped what it dropped; the teacher's ledger records
what it cost.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from qfocus.data import Example, triple_record
from qfocus.synth.config import SynthConfig
from qfocus.synth.filters import (
    DUPLICATE, EMPTY_SUMMARY, NOT_A_QUESTION, REFUSAL, UNANSWERABLE, answerable, is_question, near_duplicate,
    parse_questions, precheck, words,
)
from qfocus.synth.teacher import Teacher

QUESTIONS = "Here is the summary of a long document:\n{query}\n\nWrite one question that this summary answers. Write only the question."
CHECK = (f"Question:\n{{query}}\n\nAnswer the question in one or two sentences using only the summary below. "
         f"If the summary does not answer it, write: {REFUSAL}.\n\nSummary:\n{{summary}}")
REPHRASE = "Rewrite this question in other words, keeping its meaning. Write only the new question.\n\n{query}"
NEW_QUESTION = "Write one question that this passage of a longer document answers. Write only the question.\n\nPassage:\n{query}"
EXCERPT_CHARS = 1500  # new-question: the stretch of the document the teacher sees


@dataclass(frozen=True)
class Seed:
    """One unit of work: a document with a query and its reference (or, for instructds, its anchoring summary)."""

    key: str
    document: str
    query: str
    summary: str
    known: tuple[str, ...] = ()  # the document's dataset queries (instructds: new questions must differ)


@dataclass
class Outcome:
    triples: list[dict] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)


def seed_items(examples: list[Example], strategy: str) -> list[Seed]:
    """instructds: one seed per document, anchored in its longest reference (the most general
    summary: QMSum's whole-meeting answer, SQuALITY's plot); the others: one per example."""
    if strategy != "instructds":
        return [Seed(e.id, e.document, e.query, e.references[0]) for e in examples]
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(example.document, []).append(example)
    seeds = []
    for document, group in groups.items():
        anchor = max(((e, r) for e in group for r in e.references), key=lambda pair: len(pair[1]))
        seeds.append(Seed(anchor[0].id, document, anchor[0].query, anchor[1], tuple(e.query for e in group)))
    return seeds


def instructds(teacher: Teacher, seed: Seed, config: SynthConfig) -> Outcome:
    outcome = Outcome()
    # k sampled questions (one batched generation): a small teacher writes one question per request
    sampled = teacher.sample(QUESTIONS, seed.summary, config.queries, 48, _seed_number(f"{config.seed}:{seed.key}"))
    kept = list(seed.known)
    source = seed.document if config.summary_from == "document" else seed.summary
    for question in map(_first, sampled):
        reason = precheck(question, seed.summary, kept)
        if reason is None and not answerable(teacher.instruct(CHECK.replace("{summary}", seed.summary), question, 96),
                                             seed.summary):
            reason = UNANSWERABLE
        if reason is not None:
            outcome.dropped[reason] += 1
            continue
        kept.append(question)
        _answer(teacher, seed, question, source, outcome, "instructds")
    return outcome


def answer_aug(teacher: Teacher, seed: Seed, config: SynthConfig) -> Outcome:
    outcome = Outcome()
    _answer(teacher, seed, seed.query, seed.document, outcome, "answer-aug")
    return outcome


def rephrase(teacher: Teacher, seed: Seed, config: SynthConfig) -> Outcome:
    outcome = Outcome()
    question = _first(teacher.instruct(REPHRASE, seed.query, 64))
    if not is_question(question):
        outcome.dropped[NOT_A_QUESTION] += 1
    elif set(words(question)) == set(words(seed.query)):
        outcome.dropped[DUPLICATE] += 1  # the same words again: nothing new to learn
    else:
        outcome.triples.append(triple_record(question, seed.document, seed.summary, source=seed.key, strategy="rephrase"))
    return outcome


def new_question(teacher: Teacher, seed: Seed, config: SynthConfig) -> Outcome:
    outcome = Outcome()
    question = _first(teacher.instruct(NEW_QUESTION, excerpt(seed.document, f"{config.seed}:{seed.key}"), 64))
    if not is_question(question):
        outcome.dropped[NOT_A_QUESTION] += 1
    elif near_duplicate(question, [seed.query]):
        outcome.dropped[DUPLICATE] += 1
    else:
        _answer(teacher, seed, question, seed.document, outcome, "new-question")
    return outcome


STEPS: dict[str, Callable[[Teacher, Seed, SynthConfig], Outcome]] = {
    "instructds": instructds, "answer-aug": answer_aug, "rephrase": rephrase, "new-question": new_question,
}


def excerpt(document: str, seed: str) -> str:
    """EXCERPT_CHARS of `document` from a line start drawn with `seed` (the whole of a short document)."""
    if len(document) <= EXCERPT_CHARS:
        return document
    starts = [0] + [i + 1 for i, c in enumerate(document[: len(document) - EXCERPT_CHARS]) if c == "\n"]
    start = random.Random(seed).choice(starts)
    return document[start : start + EXCERPT_CHARS]


def _seed_number(text: str) -> int:
    return random.Random(text).randrange(2**31)


def _first(text: str) -> str:
    """The first question of a reply (a small teacher often writes a lead-in line first), else its first line."""
    lines = parse_questions(text)
    return next((line for line in lines if is_question(line)), lines[0] if lines else "")


def _answer(teacher: Teacher, seed: Seed, question: str, source: str, outcome: Outcome, strategy: str) -> None:
    summary = teacher.summarize(source, question).strip()
    if not summary:
        outcome.dropped[EMPTY_SUMMARY] += 1
        return
    outcome.triples.append(triple_record(question, seed.document, summary, source=seed.key, strategy=strategy))
