"""Typed configuration of `qfocus synth` (DESIGN §13)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from qfocus.config import DECODE_WEIGHTS, GenerationConfig
from qfocus.errors import InputError

STRATEGIES = ("instructds", "answer-aug", "rephrase", "new-question")
SUMMARY_SOURCES = ("document", "anchor")


@dataclass
class SynthConfig:
    """Which seed data, which teacher, which synthetic-data strategy, and how much to spend."""

    data: str = field(default="qmsum", metadata={"help": "Seed dataset: qmsum, squality or covidet."})
    split: str = field(default="train", metadata={"help": "Seed split (train; never a test split)."})
    data_dir: str | None = field(default=None, metadata={"help": "Folder with the dataset's native files; default ../shared/data/<name>."})
    out: str = field(default="runs/synth/triples.jsonl", metadata={"help": "Triples file (appended to; FILE.progress beside it records what is done, for resuming)."})
    strategy: str = field(default="instructds", metadata={"help": "instructds (queries anchored in a reference summary, filtered, answered by the teacher), answer-aug (new answers to the seed queries), rephrase (reworded seed queries, their references kept) or new-question (new questions about the documents, answered by the teacher)."})
    budget: int = field(default=100, metadata={"help": "Teacher calls to spend (every strategy counts the same way: one call is one generation); the seed item under way when it runs out is finished."})
    teacher: str = field(default="smollm2", metadata={"help": "The teacher: an embedded model name or a local Hugging Face checkpoint folder."})
    adapter: str | None = field(default="default", metadata={"help": "Adapter the teacher answers with: default (the shipped HyperExpert), none, or a folder."})
    dtype: str = field(default="auto", metadata={"help": "The teacher's weights and activations: auto, float32, bfloat16 or float16."})
    decode_weights: str = field(default="auto", metadata={"help": "Weights the teacher's decoding steps read: auto, int4 or full (see qfocus summarize --help)."})
    context_window: int | None = field(default=2048, metadata={"help": "Tokens of prompt + answer when the teacher answers from a document (the shipped adapter's window)."})
    queries: int = field(default=3, metadata={"help": "instructds: questions asked per anchoring summary."})
    summary_from: str = field(default="document", metadata={"help": "instructds: the teacher writes the query's summary from the document or from the anchoring summary (anchor)."})
    seed: int = field(default=0, metadata={"help": "Seed of the order seed items are taken in, and of new-question's excerpts."})
    max_new_tokens: int = field(default=128, metadata={"help": "Most tokens in a summary the teacher writes (greedy decoding)."})

    @property
    def generation(self) -> GenerationConfig:
        return GenerationConfig(max_new_tokens=self.max_new_tokens)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise InputError(f"unknown synth strategy '{self.strategy}': use one of {', '.join(STRATEGIES)}")
        if self.decode_weights not in DECODE_WEIGHTS:
            raise InputError(f"decode_weights is '{self.decode_weights}': use one of {', '.join(DECODE_WEIGHTS)}")
        if self.summary_from not in SUMMARY_SOURCES:
            raise InputError(f"summary_from is '{self.summary_from}': use one of {', '.join(SUMMARY_SOURCES)}")
        if self.split == "test":
            raise InputError("synth reads a test split: synthesise from train (test is for final numbers only)")
        for name in ("budget", "queries", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} is {getattr(self, name)}: pass a positive number")

    def to_dict(self) -> dict:
        return asdict(self)
