"""Typed configuration shared by the library and the CLI.

Every field has a docstring-like `help` in its metadata; `qfocus.cli.args` turns these dataclasses
into command-line flags and reads the same keys from a YAML file, so the three never drift apart.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace

from qfocus.errors import InputError


@dataclass
class GenerationConfig:
    """How the answer is decoded."""

    max_new_tokens: int = field(default=128, metadata={"help": "Most tokens in the answer (the IDEAL reference: 128; 400 for SQuALITY)."})
    temperature: float = field(default=0.0, metadata={"help": "0 decodes greedily; >0 samples (the reference uses 0.1)."})
    top_p: float = field(default=0.75, metadata={"help": "Nucleus mass kept when sampling (ignored when greedy)."})
    repetition_penalty: float = field(
        default=1.15, metadata={"help": "Penalty on tokens the answer already used (prompt tokens are not penalised); 1.0 disables it."}
    )
    prefill_chunk: int = field(
        default=1024, metadata={"help": "Prompt tokens processed per forward pass while reading the prompt."}
    )
    seed: int = field(default=0, metadata={"help": "Random seed used when sampling."})

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InputError(f"max_new_tokens is {self.max_new_tokens}: pass a positive number such as 128")
        if self.temperature < 0:
            raise InputError(f"temperature is {self.temperature}: pass 0 for greedy decoding or a positive value")
        if not 0 < self.top_p <= 1:
            raise InputError(f"top_p is {self.top_p}: pass a value in (0, 1]")
        if self.repetition_penalty <= 0:
            raise InputError(f"repetition_penalty is {self.repetition_penalty}: pass 1.0 to disable it")
        if self.prefill_chunk < 1:
            raise InputError(f"prefill_chunk is {self.prefill_chunk}: pass a positive number such as 1024")


SCORERS = ("bm25", "dense", "hybrid")
BROAD_REACHES = ("content", "all")
MIN_FOCUSED = 64  # specific_window: the fewest tokens it must leave beside the answer
DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")
DECODE_WEIGHTS = ("auto", "int4", "full")


@dataclass
class RetrievalConfig:
    """How `retrieve` picks passages (and how `mapreduce` batches its chunks)."""

    scorer: str = field(default="hybrid", metadata={"help": "retrieve: bm25, dense (all-MiniLM-L6-v2) or hybrid (BM25, its top --rerank re-scored densely, fused by reciprocal rank)."})
    passage_tokens: int = field(default=128, metadata={"help": "retrieve: passages are the document's lines, grouped to about this many tokens."})
    coverage: float = field(default=0.25, metadata={"help": "retrieve: share of the budget for evenly spaced passages, so broad queries see the whole document."})
    broad_reach: str = field(default="content", metadata={"help": "retrieve: how a broad query (\"summarize the meeting\") is told apart; it reads the head and tail, as truncate does. content: none of its content words (not function words, nor words that name the document or ask: summarize, meeting, plot, what, ...) occurs in the document. all: its words, every one counted, occur in fewer than --broad-below of the passages (the first rule)."})
    broad_below: float = field(default=0.2, metadata={"help": "retrieve --broad-reach all: the share of passages below which a query is broad; 0 turns the broad rule off (with either --broad-reach)."})
    specific_window: int = field(default=0, metadata={"help": "retrieve: a focused prompt: a specific (not broad) query on a document longer than the window reads its most relevant passages in the prompt a window of this many tokens gives (its answer included); broad queries still read the whole window (0: the whole window for every query)."})
    rerank: int = field(default=64, metadata={"help": "retrieve, hybrid: BM25's top N passages are embedded and re-ranked (0: embed every passage)."})
    mugi: bool = field(default=False, metadata={"help": "retrieve: MuGI query expansion: the model writes pseudo-answers that join the query."})
    mugi_answers: int = field(default=3, metadata={"help": "retrieve --mugi: pseudo-answers written (sampled in one batch)."})
    mugi_tokens: int = field(default=64, metadata={"help": "retrieve --mugi: most tokens per pseudo-answer."})
    binary_above: int = field(default=2000, metadata={"help": "retrieve: with more passages than this, 1-bit codes pre-select by Hamming distance."})
    binary_candidates: int = field(default=256, metadata={"help": "retrieve: passages kept by the Hamming search for float re-ranking."})
    map_batch: int = field(default=4, metadata={"help": "mapreduce: chunks answered in one batched generate call."})

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise InputError(f"scorer is '{self.scorer}': use one of {', '.join(SCORERS)}")
        if self.passage_tokens < 8:
            raise InputError(f"passage_tokens is {self.passage_tokens}: pass at least 8, such as 128")
        if not 0 <= self.coverage <= 1:
            raise InputError(f"coverage is {self.coverage}: pass a share of the budget in [0, 1]")
        if self.broad_reach not in BROAD_REACHES:
            raise InputError(f"broad_reach is '{self.broad_reach}': use one of {', '.join(BROAD_REACHES)}")
        if not 0 <= self.broad_below <= 1:
            raise InputError(f"broad_below is {self.broad_below}: pass a share of the passages in [0, 1]")
        for name in ("rerank", "binary_above", "specific_window"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} is {getattr(self, name)}: pass 0 or a positive number")
        for name in ("mugi_answers", "mugi_tokens", "binary_candidates", "map_batch"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} is {getattr(self, name)}: pass a positive number")


BLOCK_POSITIONS = ("window", "original")


@dataclass
class BlockConfig:
    """How `qllm` and `stream` read: sinks, a local window and retrieved KV blocks (DESIGN §9)."""

    n_init: int = field(default=128, metadata={"help": "qllm, stream: first tokens of the prompt every later token attends to (attention sinks)."})
    n_local: int = field(default=256, metadata={"help": "qllm, stream: local window: each token attends to this many preceding tokens at their true distance."})
    block_size: int = field(default=64, metadata={"help": "qllm: tokens per memory block of past keys and values."})
    topk: int = field(default=4, metadata={"help": "qllm: memory blocks retrieved for each execution block (stream uses 0)."})
    representatives: int = field(default=4, metadata={"help": "qllm: keys that represent a block: the mean of its keys most attended to in the local window."})
    question_weight: float = field(default=4.0, metadata={"help": "qllm: w in block score = K_repr·q_current + w·K_repr·q_question (Q-LLM: 4 for Llama-3, 1 for Mistral)."})
    exec_block: int = field(default=256, metadata={"help": "qllm, stream: prompt tokens read per forward; they share one block selection."})
    block_positions: str = field(default="window", metadata={"help": "qllm: window (InfLLM's: keys beyond the local window sit at distance n_local) or original (their document positions)."})
    kv_key_keep: float = field(default=1.0, metadata={"help": "qllm: ThinK: share of key channels each stored block keeps per head, chosen by the question's queries (1: all)."})

    def __post_init__(self) -> None:
        for name in ("n_local", "block_size", "representatives", "exec_block"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} is {getattr(self, name)}: pass a positive number")
        for name in ("n_init", "topk"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} is {getattr(self, name)}: pass 0 or a positive number")
        if self.representatives > self.block_size:
            raise InputError(f"representatives is {self.representatives} but a block holds {self.block_size} tokens: "
                             "pass at most --block-size")
        if self.question_weight < 0:
            raise InputError(f"question_weight is {self.question_weight}: pass 0 (Q-LLM off: InfLLM) or a positive weight")
        if not 0 < self.kv_key_keep <= 1:
            raise InputError(f"kv_key_keep is {self.kv_key_keep}: pass a share of key channels in (0, 1], such as 0.6")
        if self.block_positions not in BLOCK_POSITIONS:
            raise InputError(f"block_positions is '{self.block_positions}': use one of {', '.join(BLOCK_POSITIONS)}")

    @property
    def attended(self) -> int:
        """Most keys one token attends to: sinks, local window, retrieved blocks, and the tokens
        waiting to fill a block (fewer than a block plus an execution block)."""
        return self.n_init + self.n_local + self.topk * self.block_size + self.block_size + self.exec_block


LIFT_ADAPTERS = ("lora", "gated")
LIFT_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")


@dataclass
class LiftConfig:
    """How `lift` fine-tunes the document into the model before answering (DESIGN §10)."""

    lift_adapter: str = field(default="lora", metadata={"help": "lift: lora (low-rank updates of --lift-targets) or gated (Gated Memory: per-head memory MLP and gate in every attention layer)."})
    lift_rank: int = field(default=8, metadata={"help": "lift, lora: rank r of each update."})
    lift_alpha: float = field(default=16.0, metadata={"help": "lift, lora: the update is scaled by alpha / rank."})
    lift_targets: tuple[str, ...] = field(default=LIFT_TARGETS, metadata={"help": "lift, lora: adapted projections among q k v o gate up down."})
    lift_lr: float = field(default=1e-3, metadata={"help": "lift: learning rate (constant; Adam betas 0.9/0.98, weight decay 1e-4, as the reference)."})
    lift_epochs: int = field(default=3, metadata={"help": "lift: passes over the document's training samples."})
    lift_steps: int | None = field(default=None, metadata={"help": "lift: stop after this many steps (one sample each); default: all epochs."})
    lift_seconds: float | None = field(default=None, metadata={"help": "lift: stop adapting after this many seconds (a wall-time budget, to compare strategies at equal time)."})
    lift_segment: int | None = field(default=None, metadata={"help": "lift: tokens per training segment; default: a quarter of the window (reference: 2,048 for 8K)."})
    lift_stride: float = field(default=0.375, metadata={"help": "lift: a new segment starts every stride × segment tokens (reference: 3/8)."})
    lift_context: int = field(default=0, metadata={"help": "lift: contextualised training: tokens of random head/tail context, then a 'recite' instruction, before each segment (loss on the segment only); the reference uses half the window; 0 (default: no worse on QMSum at equal time, and each step is cheaper): plain segments."})
    lift_qa: int = field(default=0, metadata={"help": "lift: auxiliary QA (v2): the model writes this many question-answer pairs from random 256-token passages, trained in the answering format (0: none)."})
    lift_seed: int = field(default=0, metadata={"help": "lift: seed of the adapter's initialisation and of the sample order and contexts."})

    def __post_init__(self) -> None:
        if self.lift_adapter not in LIFT_ADAPTERS:
            raise InputError(f"lift_adapter is '{self.lift_adapter}': use one of {', '.join(LIFT_ADAPTERS)}")
        self.lift_targets = tuple(self.lift_targets)
        bad = sorted(set(self.lift_targets) - set(LIFT_TARGETS))
        if bad or not self.lift_targets:
            raise InputError(f"lift_targets {bad or '()'} are not known: use some of {', '.join(LIFT_TARGETS)}")
        if self.lift_context < 0:
            raise InputError(f"lift_context is {self.lift_context}: pass 0 (plain segments) or a number of tokens")
        if self.lift_qa < 0:
            raise InputError(f"lift_qa is {self.lift_qa}: pass 0 (no auxiliary QA) or a number of pairs such as 10")
        for name in ("lift_rank", "lift_epochs"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} is {getattr(self, name)}: pass a positive number")
        if self.lift_lr <= 0:
            raise InputError(f"lift_lr is {self.lift_lr}: pass a positive learning rate such as 1e-3")
        if self.lift_steps is not None and self.lift_steps < 1:
            raise InputError(f"lift_steps is {self.lift_steps}: pass a positive number of steps, or leave it unset")
        if self.lift_seconds is not None and self.lift_seconds <= 0:
            raise InputError(f"lift_seconds is {self.lift_seconds}: pass a positive number of seconds, or leave it unset")
        if self.lift_segment is not None and self.lift_segment < 16:
            raise InputError(f"lift_segment is {self.lift_segment}: pass at least 16 tokens, or leave it unset")
        if not 0 < self.lift_stride <= 1:
            raise InputError(f"lift_stride is {self.lift_stride}: pass a share of the segment in (0, 1], such as 0.375")


FOCUS_DECODES = ("cached", "reread", "frozen")


@dataclass
class FocusConfig:
    """How `focus` (FocusLLM) cuts the prompt and reads it."""

    focus_local: int | None = field(default=None, metadata={"help": "focus: tokens of local context (the prompt's end, the query repeated there); default: the window minus the answer."})
    focus_chunk: int = field(default=1024, metadata={"help": "focus: tokens per chunk of the earlier text (the reference: 1,024 on LongBench, 2,048 for the pass key)."})
    focus_prompt: int = field(default=512, metadata={"help": "focus: each chunk is followed by the last min(this, chunk, local) local tokens; the last is its candidate token."})
    focus_batch: int = field(default=8, metadata={"help": "focus: chunks read at once (caps the activations' memory)."})
    focus_weights: str | None = field(default=None, metadata={"help": "focus: folder of trained candidate projections (focus.safetensors); default: untrained (copies of the model's)."})
    focus_decode: str = field(default="cached", metadata={"help": "focus: per answer token, `cached` steps every chunk's kept cache (the reference; memory grows with the document), `reread` reads every chunk again (same answer, memory bounded by --focus-batch, a document's reading per token), `frozen` keeps the prompt's candidates and decodes the local context on its own cache (bounded and fast; the candidates do not see the answer)."})

    def __post_init__(self) -> None:
        if self.focus_decode not in FOCUS_DECODES:
            raise InputError(f"focus_decode is {self.focus_decode!r}: pass one of {', '.join(FOCUS_DECODES)}")
        for name in ("focus_chunk", "focus_prompt", "focus_batch"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} is {getattr(self, name)}: pass a positive number")
        if self.focus_local is not None and self.focus_local < 2:
            raise InputError(f"focus_local is {self.focus_local}: pass at least 2 tokens, or leave it unset")


@dataclass
class RouteConfig:
    """How `route` chooses between a small and a large configuration (Hybrid LLM)."""

    router: str | None = field(default=None, metadata={"help": "route: the router file `qfocus route fit` wrote (it names the small and the large strategy spec)."})
    route_share: float = field(default=0.6, metadata={"help": "route: share of queries sent to the large configuration (the threshold is set where this share of the router's training queries would go)."})

    def __post_init__(self) -> None:
        if not 0 <= self.route_share <= 1:
            raise InputError(f"route_share is {self.route_share}: pass a value in [0, 1]")


@dataclass
class SummarizeConfig:
    """What `qfocus summarize` does: which model, which strategy, how much fits."""

    model: str = field(
        default="smollm2",
        metadata={"help": "Embedded model name (smollm2, gemma3-270m) or a local Hugging Face checkpoint directory."},
    )
    strategy: str = field(default="truncate", metadata={"help": "How a long document is fitted to the model."})
    dtype: str = field(
        default="auto",
        metadata={"help": "Weights and activations: auto (bf16 on a GPU, and on a CPU that multiplies bf16 natively; else float32), float32, bfloat16 or float16."},
    )
    decode_weights: str = field(
        default="auto",
        metadata={"help": "Weights decoding steps read: int4 (the projections packed in 4 bits, groups of 32: "
                          "faster on a CPU), full (the model's dtype), auto (int4 on a CPU with native bf16 when the "
                          "weights already lie on a 4-bit grid, as the embedded GGUF model's do; else full)."},
    )
    adapter: str | None = field(
        default="default",
        metadata={"help": "Trained adapter to attach: default (the IDEAL HyperExpert shipped for the embedded model; "
                          "nothing for other models), none (zero-shot), or the folder of one you trained."},
    )
    context_window: int | None = field(
        default=None,
        metadata={"help": "Tokens the prompt plus answer may use; default: the model's own window."},
    )
    head_fraction: float = field(
        default=0.5, metadata={"help": "truncate (and retrieve, for a broad query): share of the kept document taken from its start (the rest from its end)."}
    )
    segment: int | None = field(
        default=None,
        metadata={"help": "ideal, infini: segment length S read at a time; default: the adapter's, else 1024."},
    )
    max_bytes: int = field(
        default=50_000_000, metadata={"help": "Refuse documents larger than this many bytes."}
    )
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    blocks: BlockConfig = field(default_factory=BlockConfig)
    lift: LiftConfig = field(default_factory=LiftConfig)
    focus: FocusConfig = field(default_factory=FocusConfig)
    route: RouteConfig = field(default_factory=RouteConfig)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_NAMES:
            raise InputError(f"dtype is '{self.dtype}': use one of {', '.join(DTYPE_NAMES)}")
        if self.decode_weights not in DECODE_WEIGHTS:
            raise InputError(f"decode_weights is '{self.decode_weights}': use one of {', '.join(DECODE_WEIGHTS)}")
        if self.adapter is not None and not str(self.adapter).strip():
            raise InputError("adapter is empty: pass default, none, or an adapter folder")
        if self.context_window is not None and self.context_window < 16:
            raise InputError(f"context_window is {self.context_window}: pass at least 16 tokens, or leave it unset")
        if not 0 <= self.head_fraction <= 1:
            raise InputError(f"head_fraction is {self.head_fraction}: pass a value in [0, 1]")
        if self.segment is not None and self.segment < 1:
            raise InputError(f"segment is {self.segment}: pass a positive number of tokens such as 1024")
        if self.max_bytes < 1:
            raise InputError(f"max_bytes is {self.max_bytes}: pass a positive size in bytes")
        window = self.retrieval.specific_window
        if window and window < self.generation.max_new_tokens + MIN_FOCUSED:
            raise InputError(f"specific_window is {window}: the answer's {self.generation.max_new_tokens} tokens leave "
                             f"too little for the query and passages; pass at least {self.generation.max_new_tokens + MIN_FOCUSED}, "
                             "such as 1024, or 0 for the whole window")


def set_option(config: SummarizeConfig, key: str, value, where: str):
    """A copy of `config` with the (nested) field `key` set: `value` is text (a strategy spec's
    `coverage=0.5`) or already typed (a JSON request's options); `where` names the source in errors."""
    try:
        return _set(config, key, value, where)
    except KeyError:
        raise InputError(f"unknown setting '{key}' in {where}: use option names such as scorer or coverage") from None


def _set(config, key: str, value, where: str):
    hints = typing.get_type_hints(type(config))
    for f in fields(config):
        if f.name == key and not is_dataclass(hints[key]):
            return replace(config, **{key: _parse(value, hints[key], where)})
    for f in fields(config):
        if is_dataclass(hints[f.name]):
            try:
                return replace(config, **{f.name: _set(getattr(config, f.name), key, value, where)})
            except KeyError:
                continue
    raise KeyError(key)


def _parse(value, hint, where: str):
    kinds = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    kind = kinds[0]
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        if type(None) in typing.get_args(hint):
            return None
        raise InputError(f"'{value}' in {where} is not a {getattr(kind, '__name__', kind)}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise InputError(f"'{value}' in {where} is not true or false")
        return str(value).lower() in ("true", "1", "yes")
    if typing.get_origin(kind) is tuple:  # lift_targets: a list, or names separated by commas or spaces
        items = value if isinstance(value, (list, tuple)) else str(value).replace(",", " ").split()
        return tuple(str(v) for v in items)
    if isinstance(value, bool) or (kind in (int, float) and not isinstance(value, (str, int, float))) \
            or (kind is int and isinstance(value, float) and not value.is_integer()):
        raise InputError(f"'{value}' in {where} is not a {kind.__name__}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise InputError(f"'{value}' in {where} is not a {kind.__name__}") from None

