"""The one interface every strategy implements: (model, document, query) → `Summary`.

A strategy is how a document longer than the model's window becomes an answer: shorten it
(`truncate`), refuse it (`full`), and later read it into memory (`ideal`, `infini`), train on it
(`lift`), decode chunks in parallel (`focus`) or retrieve from it (`qllm`, `retrieve`). Strategies
register themselves by name with `@register`; the CLI and `qfocus.summarize` look them up there.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

from qfocus.config import SummarizeConfig, set_option
from qfocus.documents import check_query, check_text
from qfocus.errors import InputError
from qfocus.generation import Callbacks, Generated, generate, generate_batch
from qfocus.hyper.config import saved_config
from qfocus.models import LoadedModel
from qfocus.prompts import Prompt, PromptBuilder, document_budget
from qfocus.shipped import DEFAULT, resolve_adapter


@dataclass
class Summary:
    """An answer and how it was made (the fields of `qfocus summarize --json`)."""

    summary: str
    strategy: str
    model: str
    prompt_tokens: int  # tokens the model read
    document_tokens: int  # tokens of the whole document
    truncated_tokens: int  # document tokens the model never saw
    answer_tokens: int
    seconds: float  # reading + answering, model loading excluded
    model_calls: int = 1  # generate calls (mapreduce/refine: one per chunk and combination; MuGI: +1)
    passages: list[dict] | None = None  # retrieve: the passages read, {start, end, score, reason}
    training: dict | None = None  # lift: {steps, planned, loss_start, loss_end, seconds, cached, key}
    routed: dict | None = None  # route: {to, spec, predicted_gain, threshold}

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items()
                if value is not None or key not in ("passages", "training", "routed")}


class Strategy(ABC):
    """Turns (document, query) into a `Summary` with a loaded model."""

    name: ClassVar[str]
    description: ClassVar[str]
    batched: ClassVar[bool] = False  # True: `summarize_batch` shares model calls across queries
    # the RetrievalConfig settings its answers depend on ("*": all); `--resume` compares only these
    retrieval_settings: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: SummarizeConfig | None = None):
        self.config = config or SummarizeConfig()
        named = resolve_adapter(self.config.adapter, self.config.model)
        if named is not None and not self._shipped_default():  # refuse an unusable adapter before any model is loaded
            hyper = saved_config(named)
            if hyper is not None:
                self.check_adapter(hyper)

    def _shipped_default(self) -> bool:
        return str(self.config.adapter).lower() == DEFAULT

    def adapter_folder(self) -> str | None:
        """The adapter folder to load for this strategy: `--adapter` resolved (`qfocus.shipped`). The
        shipped default is left out, not refused, where this strategy cannot use it (lift, say)."""
        folder = resolve_adapter(self.config.adapter, self.config.model)
        if folder is not None and self._shipped_default():
            try:
                self.check_adapter(saved_config(folder))
            except InputError:
                return None
        return folder

    def check_adapter(self, hyper: dict | None) -> None:
        """Raise `InputError` if this strategy cannot use an adapter with this (saved) HyperConfig;
        None means no adapter. Any adapter goes by default."""

    def window(self, lm: LoadedModel) -> int:
        """Tokens of prompt + answer: `--context-window`, else the model's own."""
        return self.config.context_window or lm.context_window

    def budget(self, lm: LoadedModel, query: str) -> tuple[PromptBuilder, int]:
        """The prompt builder and the document tokens one prompt holds beside `query` and the answer."""
        builder = PromptBuilder(lm.tokenizer)
        return builder, document_budget(self.window(lm), builder.overhead(query), self.config.generation.max_new_tokens)

    def adapter_of(self, lm: LoadedModel) -> dict | None:
        """The attached adapter's HyperConfig as a dict (checked), or None."""
        hyper = lm.expert.config.to_dict() if lm.expert is not None else None
        self.check_adapter(hyper)
        return hyper

    @abstractmethod
    def summarize(self, lm: LoadedModel, document: str, query: str, callbacks: Callbacks | None = None) -> Summary:
        """Answer `query` about `document`."""

    def summarize_batch(self, lm: LoadedModel, items: Sequence[tuple[str, str]]) -> list[Summary]:
        """Answer several (document, query) pairs; strategies that can share model calls override this."""
        return [self.summarize(lm, document, query) for document, query in items]


@dataclass
class Plan:
    """What a one-prompt strategy decodes from, and what it spent making it."""

    prompt: Prompt
    calls: int = 0  # model calls spent choosing the prompt (MuGI's pseudo-answers)
    passages: list[dict] | None = None  # retrieve: the passages in the prompt


class OnePromptStrategy(Strategy):
    """A strategy that builds one prompt per query and decodes once, so that several queries can be
    answered in one batched `generate` call (left padding; greedy answers equal one at a time)."""

    batched = True

    @abstractmethod
    def plan(self, lm: LoadedModel, document: str, query: str) -> Plan:
        """The prompt to decode from (no answer is generated)."""

    def check_adapter(self, hyper: dict | None) -> None:
        refuse_memory_adapter(self.name, hyper)

    def summarize(self, lm: LoadedModel, document: str, query: str, callbacks: Callbacks | None = None) -> Summary:
        start = time.perf_counter()
        self.adapter_of(lm)
        plan = self.plan(lm, document, query)
        answer = generate(lm, plan.prompt.input_ids, self.config.generation, callbacks, plan.prompt.query_mask)
        return self._summary(lm, plan, answer, time.perf_counter() - start)

    def summarize_batch(self, lm: LoadedModel, items: Sequence[tuple[str, str]]) -> list[Summary]:
        """One `generate_batch` call for all items; each Summary's seconds is its share of the batch."""
        if len(items) <= 1:
            return [self.summarize(lm, document, query) for document, query in items]
        start = time.perf_counter()
        self.adapter_of(lm)
        plans = [self.plan(lm, document, query) for document, query in items]
        answers = generate_batch(lm, [p.prompt.input_ids for p in plans], self.config.generation,
                                 [p.prompt.query_mask for p in plans])
        share = (time.perf_counter() - start) / len(plans)
        return [self._summary(lm, plan, answer, share) for plan, answer in zip(plans, answers)]

    def _summary(self, lm: LoadedModel, plan: Plan, answer: Generated, seconds: float) -> Summary:
        return Summary(
            summary=answer.text, strategy=self.name, model=lm.name, prompt_tokens=len(plan.prompt),
            document_tokens=plan.prompt.document_tokens, truncated_tokens=plan.prompt.truncated_tokens,
            answer_tokens=answer.new_tokens, seconds=round(seconds, 3), model_calls=plan.calls + 1,
            passages=plan.passages,
        )


class SinglePromptStrategy(OnePromptStrategy):
    """A strategy that fits (part of) the document into one prompt by cutting its token ids."""

    @abstractmethod
    def fit(self, document_ids: list[int], budget: int, builder: PromptBuilder, window: int) -> list[int]:
        """The document ids to put in the prompt, at most `budget` of them."""

    def prepare(self, lm: LoadedModel, document: str, query: str, document_ids: list[int] | None = None) -> Prompt:
        """The prompt this strategy would decode from (no model call); `document_ids`: the document
        already tokenised (`PromptBuilder.encode`), if the caller has it."""
        check_text(document)
        query = check_query(query)
        builder, budget = self.budget(lm, query)
        document_ids = builder.encode(document) if document_ids is None else document_ids
        kept = self.fit(document_ids, budget, builder, self.window(lm))
        return builder.build(query, kept, document_tokens=len(document_ids))

    def plan(self, lm: LoadedModel, document: str, query: str) -> Plan:
        return Plan(self.prepare(lm, document, query))


def refuse_memory_adapter(strategy: str, hyper: dict | None) -> None:
    """Strategies that read one plain prompt cannot use an adapter trained to read through memory."""
    if hyper is not None and hyper.get("memory"):
        raise InputError(f"the adapter was trained with --memory and reads in segments: use --strategy ideal "
                         f"(or infini) with it, not {strategy}")


STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make a strategy available by its `name`."""
    STRATEGIES[cls.name] = cls
    return cls


SHARED = ("model", "dtype", "decode_weights", "strategy")  # settings of the one loaded model, not of a strategy (adapter may differ)


def strategy_config(base: SummarizeConfig, spec: str) -> SummarizeConfig:
    """`base` with the spec's strategy and settings (`name:key=value:...`)."""
    name, *settings = spec.split(":")
    if name not in STRATEGIES:
        raise InputError(f"unknown strategy '{name}' in --strategies: use one of {', '.join(sorted(STRATEGIES))}")
    config = replace(base, strategy=name)
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise InputError(f"'{setting}' in strategy spec '{spec}' is not key=value (e.g. retrieve:scorer=bm25)")
        key = key.replace("-", "_")
        if key in SHARED:
            raise InputError(f"'{key}' in strategy spec '{spec}' is shared by every strategy (one model load): "
                             f"pass --{key.replace('_', '-')} to compare itself")
        config = set_option(config, key, value, f"strategy spec '{spec}'")
    return config


def get_strategy(name: str, config: SummarizeConfig | None = None) -> Strategy:
    """An instance of the strategy called `name`; a clear error listing the known ones otherwise."""
    if name not in STRATEGIES:
        raise InputError(f"unknown strategy '{name}': use one of {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name](config)
