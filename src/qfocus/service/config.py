"""`qfocus serve`'s settings: one typed dataclass that the CLI flags and a YAML file mirror.

What a request may ask for (strategy, options) starts from `SummarizeConfig`'s defaults, the one
place that defines them for the CLI, the Python API and this service.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qfocus.config import DECODE_WEIGHTS, DTYPE_NAMES
from qfocus.errors import InputError


@dataclass
class ServeConfig:
    """Where the service listens, which model it holds, and the limits on each request."""

    host: str = field(default="127.0.0.1", metadata={"help": "Address to bind; 127.0.0.1 (this machine only) unless you mean to expose it, e.g. 0.0.0.0."})
    port: int = field(default=8000, metadata={"help": "TCP port."})
    model: str = field(default="smollm2", metadata={"help": "The one model this process holds: an embedded name or a local checkpoint folder."})
    dtype: str = field(default="auto", metadata={"help": "Weights and activations: auto, float32, bfloat16 or float16."})
    decode_weights: str = field(default="auto", metadata={"help": "Weights decoding steps read: auto, int4 or full (as `qfocus summarize --decode-weights`)."})
    adapter_dir: str | None = field(default=None, metadata={"help": "Folder of trained adapters (one sub-folder each); clients pick one by its name, never by a path."})
    token: str | None = field(default=None, metadata={"help": "Require `Authorization: Bearer TOKEN` on /v1/*; default: the QFOCUS_TOKEN environment variable, else no token."})
    queue: int = field(default=8, metadata={"help": "Requests that may wait behind the running one; more are refused with HTTP 429 and Retry-After."})
    max_bytes: int = field(default=20_000_000, metadata={"help": "Largest request body or uploaded file, in bytes (413 beyond)."})
    max_document_tokens: int = field(default=1_000_000, metadata={"help": "Longest document, in tokens of the model (413 beyond)."})
    max_new_tokens: int = field(default=1024, metadata={"help": "Most answer tokens a request may ask for (400 beyond)."})
    max_seconds: float = field(default=600.0, metadata={"help": "Most seconds a request may take from its arrival, waiting included (504 beyond)."})
    files: int = field(default=16, metadata={"help": "Uploaded files (POST /v1/files) kept in memory for chat requests; the oldest goes first."})

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_NAMES:
            raise InputError(f"dtype is '{self.dtype}': use one of {', '.join(DTYPE_NAMES)}")
        if self.decode_weights not in DECODE_WEIGHTS:
            raise InputError(f"decode_weights is '{self.decode_weights}': use one of {', '.join(DECODE_WEIGHTS)}")
        if not 0 < self.port < 65536:
            raise InputError(f"port is {self.port}: pass a TCP port between 1 and 65535")
        for name in ("queue", "max_bytes", "max_document_tokens", "max_new_tokens", "files"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} is {getattr(self, name)}: pass a positive number")
        if self.max_seconds <= 0:
            raise InputError(f"max_seconds is {self.max_seconds}: pass a positive number of seconds")
