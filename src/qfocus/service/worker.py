"""One model, one worker thread, a bounded queue of requests in arrival order.

A request becomes a `Job`; the worker runs jobs one at a time and reports each through the job's
`emit(kind, data)`: `queued`, `progress` (stage, done, total), `token` (answer text as it is
final), then exactly one of `summary`, `error` (status, error, detail) or `cancelled`. A client
that goes away sets `job.cancel`; the next progress or token callback raises and the generation
stops. A job past its deadline stops the same way with status 504.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qfocus.config import SummarizeConfig
from qfocus.documents import Document
from qfocus.errors import DocumentTooLong, QfocusError
from qfocus.generation import Callbacks

log = logging.getLogger("qfocus.service")

Emit = Callable[[str, dict], None]


TIMEOUT = {"status": 504, "error": "timeout", "detail": "the request took longer than this server's --max-seconds"}


class QueueFull(Exception):
    """More requests wait than the queue holds."""


class _Stop(Exception):
    """Raised inside a callback to end a job early: cancelled by its client, or past its deadline."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Job:
    """What to answer (document, query, config) and where its events go."""

    document: Document
    query: str
    config: SummarizeConfig
    emit: Emit
    deadline: float  # time.monotonic() after which the job stops with 504
    cancel: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        if self.cancel.is_set():
            raise _Stop("cancelled")
        if time.monotonic() > self.deadline:
            raise _Stop("timeout")


class Worker:
    """Holds one loaded model (reloaded when a request names another adapter) and runs jobs in order.

    `load(adapter_folder)` returns a `LoadedModel`; injected so that tests can serve tiny models.
    """

    def __init__(self, load: Callable[[str | None], object], queue_size: int, max_document_tokens: int):
        self._load, self.max_document_tokens = load, max_document_tokens
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self._lm, self._loaded = None, object()  # the model and the adapter folder it carries
        self.running: Job | None = None
        self._thread = threading.Thread(target=self._run, name="qfocus-worker", daemon=True)

    def start(self, adapter_folder: str | None) -> None:
        """Load the default model now (so the first request does not wait for it), then serve."""
        self._model(adapter_folder)
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=30)

    @property
    def model(self):
        return self._lm

    def waiting(self) -> int:
        return self._queue.qsize()

    def submit(self, job: Job) -> None:
        """Queue `job` (its `queued` event says how many are ahead of it). Raises `QueueFull`."""
        ahead = self._queue.qsize() + (self.running is not None)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFull from None
        job.emit("queued", {"ahead": ahead})

    def _model(self, adapter_folder: str | None):
        if adapter_folder != self._loaded:
            self._lm, self._loaded = None, object()  # free the old one before loading the next
            self._lm, self._loaded = self._load(adapter_folder), adapter_folder
        return self._lm

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if job.cancel.is_set():
                continue
            self.running = job
            try:
                self._answer(job)
            finally:
                self.running = None

    def _answer(self, job: Job) -> None:
        from qfocus.strategies import get_strategy

        try:
            job.check()
            strategy = get_strategy(job.config.strategy, job.config)
            lm = self._model(strategy.adapter_folder())
            job.check()
            tokens = len(lm.tokenizer(job.document.text, add_special_tokens=False)["input_ids"])
            if tokens > self.max_document_tokens:
                job.emit("error", {"status": 413, "error": "document_too_long",
                                   "detail": f"the document has {tokens:,} tokens, more than this server's "
                                             f"--max-document-tokens {self.max_document_tokens:,}"})
                return

            def on_progress(stage: str, done: int, total: int) -> None:
                job.check()
                job.emit("progress", {"stage": stage, "done": done, "total": total})

            def on_token(text: str) -> None:
                job.check()
                job.emit("token", {"text": text})

            def on_step(step: int, steps: int, loss: float) -> None:
                on_progress("adapting to the document", step, steps)

            summary = strategy.summarize(lm, job.document.text, job.query, Callbacks(on_token, on_progress, on_step))
            job.emit("summary", job.document.cite(summary.to_dict()))
        except _Stop as stop:
            if stop.reason == "cancelled":
                job.emit("cancelled", {})
            else:
                job.emit("error", dict(TIMEOUT))
        except DocumentTooLong as error:
            job.emit("error", {"status": 413, "error": "document_too_long", "detail": str(error)})
        except QfocusError as error:
            job.emit("error", {"status": 400, "error": "bad_request", "detail": str(error)})
        except Exception:  # noqa: BLE001 - logged here, never sent to the client
            log.exception("request failed")
            job.emit("error", {"status": 500, "error": "internal_error", "detail": "the server failed on this request; its log has the cause"})

