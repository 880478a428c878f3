"""Typed configuration of `qfocus train` (DESIGN §4 gives the reference values)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from qfocus.errors import InputError
from qfocus.hyper.config import HyperConfig

# Default peak learning rate per adapter kind. LoRA's 1e-3 is what docs/results.md trains with on
# SmolLM2; prompt vectors are RMS-normalised before the layer's own k/v projections and needed about
# 10x LoRA's rate to fit in the adapter tests (not yet tuned on a real model).
DEFAULT_LR = {"lora": 1e-3, "padapter": 1e-3, "prompt": 1e-2, "none": 1e-2}
# Memory gates learn at their own rate without weight decay: at the adapters' rate they stay near
# their start (DESIGN §2 lists "gates stuck at 0.5" among the known failure modes).
DEFAULT_GATE_LR = 1e-2
PRECISIONS = ("auto", "no", "bf16", "fp16")


@dataclass
class TrainConfig:
    """What to train on, with which adapter, and how."""

    data: str = field(default="covidet", metadata={"help": "Dataset: qmsum, qmsum-gold, squality or covidet; join several with + (qmsum+squality); none: only --data-file."})
    split: str = field(default="train", metadata={"help": "Split to train on: train or val."})
    data_dir: str | None = field(
        default=None, metadata={"help": "Folder with the dataset's native files; default ../shared/data/<name>."}
    )
    data_file: tuple[str, ...] = field(
        default=(),
        metadata={"help": "JSONL files of (query, document, summary) triples (what `qfocus synth` writes), trained on together with --data's."},
    )
    limit: int | None = field(
        default=None,
        metadata={"help": "Train on N of --data's (query, document, summary) triples drawn at random (with --seed; --data-file's are all kept); default: all."},
    )
    model: str = field(
        default="smollm2",
        metadata={"help": "Embedded model name (smollm2, gemma3-270m) or a local Hugging Face checkpoint directory."},
    )
    out: str = field(default="runs/train", metadata={"help": "Run folder: adapter, checkpoints/, log.jsonl, summary.json."})
    max_input_tokens: int = field(
        default=1024,
        metadata={"help": "Prompt tokens per example; longer documents keep head and tail (reference: CovidET 768, QMSum 1600)."},
    )
    max_summary_tokens: int = field(default=256, metadata={"help": "Summary tokens per example (the loss is on these only)."})
    epochs: int = field(default=1, metadata={"help": "Passes over the training triples (ignored when --max-steps is set)."})
    max_steps: int | None = field(default=None, metadata={"help": "Stop after this many optimisation steps; default: --epochs."})
    batch_size: int = field(default=4, metadata={"help": "Examples per forward pass on each process."})
    grad_accum: int = field(default=1, metadata={"help": "Forward passes per optimisation step (effective batch = batch_size x grad_accum x processes)."})
    lr: float | None = field(
        default=None, metadata={"help": "Peak learning rate; default by adapter kind: lora and padapter 1e-3, prompt 1e-2."}
    )
    generator_lr_scale: float = field(
        default=1.0, metadata={"help": "IDEAL methods: the hypernetwork's learning rate is lr times this."}
    )
    gate_lr: float = field(
        default=DEFAULT_GATE_LR,
        metadata={"help": "With --memory: peak learning rate of the memory gates (no weight decay); default 1e-2."},
    )
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of the steps with linear warm-up; cosine decay to 0 after."})
    weight_decay: float = field(default=0.02, metadata={"help": "AdamW weight decay (betas 0.9, 0.95)."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Clip the gradient norm to this; 0 disables clipping."})
    seed: int = field(default=0, metadata={"help": "Seed for the subset, the data order, initialisation and dropout."})
    precision: str = field(
        default="auto",
        metadata={"help": "Mixed precision: auto (bf16 on GPU, fp32 on CPU, or what `accelerate launch` says), no, bf16, fp16."},
    )
    save_every: int = field(default=50, metadata={"help": "Write a resumable checkpoint every N optimisation steps."})
    keep_checkpoints: int = field(default=2, metadata={"help": "Keep only the newest N checkpoints."})
    resume: bool = field(default=False, metadata={"help": "Continue the run in --out from its newest checkpoint."})
    hyper: HyperConfig = field(default_factory=HyperConfig)

    def __post_init__(self) -> None:
        self.data_file = tuple(self.data_file)  # a YAML list, or flags
        if self.data == "none" and not self.data_file:
            raise InputError("data is none and no --data-file is given: name a dataset, a triples file, or both")
        for name in ("epochs", "batch_size", "grad_accum", "save_every", "keep_checkpoints", "max_input_tokens",
                     "max_summary_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} is {getattr(self, name)}: pass a positive number")
        for name in ("limit", "max_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"{name} is {getattr(self, name)}: pass a positive number, or leave it unset")
        if self.lr is not None and self.lr <= 0:
            raise InputError(f"lr is {self.lr}: pass a positive learning rate such as 1e-3")
        if self.gate_lr <= 0:
            raise InputError(f"gate_lr is {self.gate_lr}: pass a positive learning rate such as 1e-2")
        if self.generator_lr_scale <= 0:
            raise InputError(f"generator_lr_scale is {self.generator_lr_scale}: pass a positive factor such as 1.0")
        if not 0 <= self.warmup_ratio < 1:
            raise InputError(f"warmup_ratio is {self.warmup_ratio}: pass a value in [0, 1)")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise InputError("weight_decay and max_grad_norm must not be negative")
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision '{self.precision}': use one of {', '.join(PRECISIONS)}")

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.hyper.kind]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FocusTrainConfig:
    """What to train FocusLLM's candidate projections on, and how."""

    data: str = field(default="qmsum+squality", metadata={"help": "Datasets whose documents are the long text; join several with +."})
    split: str = field(default="train", metadata={"help": "Split whose documents to read: train or val."})
    model: str = field(default="smollm2", metadata={"help": "Embedded model name or a local checkpoint folder."})
    out: str = field(default="runs/focus", metadata={"help": "Run folder: focus.safetensors, checkpoints/, log.jsonl, summary.json."})
    max_tokens: int = field(default=4096, metadata={"help": "Tokens per sample (a random stretch of a document)."})
    local: int = field(default=512, metadata={"help": "Longest local span."})
    min_local: int = field(default=30, metadata={"help": "Shortest local span (the reference: 30)."})
    chunks: tuple[int, ...] = field(default=(128, 256, 512, 1024), metadata={"help": "Chunk strides drawn from at each step (the reference: 64 ... 2048)."})
    prompt: int = field(default=512, metadata={"help": "Each chunk is followed by the span's last min(this, stride, span) tokens."})
    batch: int = field(default=8, metadata={"help": "Chunks read at once."})
    steps: int = field(default=200, metadata={"help": "Optimisation steps (one sample each)."})
    lr: float = field(default=1e-4, metadata={"help": "Peak learning rate (AdamW 0.9/0.95, linear warm-up, cosine decay)."})
    warmup_ratio: float = field(default=0.05, metadata={"help": "Share of the steps with linear warm-up."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Clip the gradient norm to this; 0 disables clipping."})
    seed: int = field(default=0, metadata={"help": "Seed of every draw (sample, task, stride, span)."})
    save_every: int = field(default=25, metadata={"help": "Write a resumable checkpoint every N steps."})
    keep_checkpoints: int = field(default=2, metadata={"help": "Keep only the newest N checkpoints."})
    resume: bool = field(default=False, metadata={"help": "Continue the run in --out from its newest checkpoint."})

    def __post_init__(self) -> None:
        for name in ("max_tokens", "local", "min_local", "prompt", "batch", "steps", "save_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} is {getattr(self, name)}: pass a positive number")
        if not self.chunks or min(self.chunks) < 1:
            raise InputError("chunks must list positive strides, e.g. 128 256 512")
        if self.min_local > self.local:
            raise InputError(f"min_local {self.min_local} is more than local {self.local}")
        if self.max_tokens < self.local + 2 * max(self.chunks):
            raise InputError(f"max_tokens {self.max_tokens} leaves no room for two chunks of {max(self.chunks)} "
                             f"beside a {self.local}-token span: raise it or lower --chunks")
        if self.lr <= 0 or not 0 <= self.warmup_ratio < 1 or self.max_grad_norm < 0:
            raise InputError("lr must be positive, warmup_ratio in [0, 1), max_grad_norm not negative")

    def to_dict(self) -> dict:
        return asdict(self)
