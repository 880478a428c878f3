"""The teacher: the model that writes synthetic data, and the ledger of what it was asked.

Every generation is one call; the ledger counts calls, prompt tokens and answer tokens alike for
every synthetic-data strategy, so their costs compare (DESIGN §13: which strategy wins depends on
the teacher budget). Free-form requests (write questions, rephrase) are one-turn instructions;
query-focused answers go through a summarisation strategy (`truncate` by default) with the teacher's
adapter, exactly as `qfocus summarize` would answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

from qfocus.config import GenerationConfig

if TYPE_CHECKING:  # the CLI builds its flags from this package without loading torch
    from qfocus.models import LoadedModel
    from qfocus.strategies import Strategy


TEMPERATURE, TOP_P = 0.8, 0.95  # `sample`: diverse questions, as MuGI samples its pseudo-answers


@dataclass
class Ledger:
    """What a teacher has been asked so far."""

    calls: int = 0
    prompt_tokens: int = 0
    answer_tokens: int = 0

    def add(self, other: Ledger) -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.answer_tokens += other.answer_tokens

    def minus(self, before: Ledger) -> Ledger:
        return Ledger(self.calls - before.calls, self.prompt_tokens - before.prompt_tokens,
                      self.answer_tokens - before.answer_tokens)

    def copy(self) -> Ledger:
        return Ledger(**asdict(self))

    def to_dict(self) -> dict:
        return asdict(self)


class Teacher:
    """A loaded model that answers instructions and query-focused requests, counting each call."""

    def __init__(self, lm: LoadedModel, strategy: Strategy, generation: GenerationConfig):
        self.lm, self.strategy, self.generation = lm, strategy, generation
        self.ledger = Ledger()

    def instruct(self, message: str, text: str, max_new_tokens: int | None = None) -> str:
        """Answer the one-turn instruction `message`, whose `{query}` is replaced by `text` (the part an
        adapter reads as the query)."""
        from qfocus.generation import generate

        prompt = self._prompt(message, text)
        generation = self.generation if max_new_tokens is None else replace(self.generation, max_new_tokens=max_new_tokens)
        answer = generate(self.lm, prompt.input_ids, generation, query_mask=prompt.query_mask)
        self._count(len(prompt), answer.new_tokens)
        return answer.text

    def sample(self, message: str, text: str, n: int, max_new_tokens: int, seed: int) -> list[str]:
        """`n` sampled answers to the instruction (one batched generation, `n` calls in the ledger):
        diverse where greedy decoding would repeat itself, and the same for the same `seed`."""
        from qfocus.generation import generate_batch

        prompt = self._prompt(message, text)
        sampling = replace(self.generation, max_new_tokens=max_new_tokens, temperature=TEMPERATURE, top_p=TOP_P, seed=seed)
        answers = generate_batch(self.lm, [prompt.input_ids] * n, sampling, [prompt.query_mask] * n)
        for answer in answers:
            self._count(len(prompt), answer.new_tokens)
        return [answer.text for answer in answers]

    def summarize(self, document: str, query: str) -> str:
        """The query-focused summary of `document`, as the teacher's strategy writes it."""
        summary = self.strategy.summarize(self.lm, document, query)
        self._count(summary.prompt_tokens, summary.answer_tokens, summary.model_calls)
        return summary.summary

    def _prompt(self, message: str, text: str):
        from qfocus.prompts import PromptBuilder

        return PromptBuilder(self.lm.tokenizer).instruction(message, text)

    def _count(self, prompt_tokens: int, answer_tokens: int, calls: int = 1) -> None:
        self.ledger.add(Ledger(calls, prompt_tokens, answer_tokens))
