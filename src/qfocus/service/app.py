"""The HTTP service: FastAPI routes over one `Worker` (DESIGN.md §12).

    POST /v1/summarize         JSON {document, query, strategy, adapter, options} or a multipart upload
                               (file, query, ...); ?stream=true: server-sent events
    POST /v1/chat/completions  OpenAI-compatible: the first user message is the document, the last the query
    POST /v1/files             upload a document (PDF, HTML, DOCX, text) for chat messages' file parts
    GET  /v1/strategies, /v1/models, /healthz; /docs (OpenAPI); / (the web page)

Every error is JSON `{error, detail}` with its status; a traceback never leaves the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
import uuid
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from qfocus.config import SummarizeConfig, set_option
from qfocus.documents import Document, check_query, check_text, load_document
from qfocus.errors import QfocusError
from qfocus.service.config import ServeConfig
from qfocus.service.worker import TIMEOUT, Job, QueueFull, Worker

log = logging.getLogger("qfocus.service")
PAGE = Path(__file__).with_name("page")
ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
LOCKED = ("model", "dtype", "decode_weights", "adapter", "max_bytes", "strategy")  # set by the server or by their own field
FINAL = ("summary", "error", "cancelled")


class ServiceError(Exception):
    """An answer with an HTTP status: `{error, detail}`."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


class SummarizeRequest(BaseModel):
    """A document (as text), a query, and how to answer it; anything left out takes qfocus's defaults."""

    model_config = ConfigDict(extra="forbid")
    document: str = Field(description="The document's text (upload a PDF, HTML or DOCX file as multipart instead).")
    query: str = Field(description="What the summary should answer.")
    strategy: str | None = Field(None, description="A name from GET /v1/strategies; default: qfocus's default.")
    adapter: str | None = Field(None, description="default, none, or the name of an adapter in GET /v1/models.")
    options: dict[str, Any] = Field(default_factory=dict, description="Strategy and decoding settings by option name, e.g. {\"coverage\": 0.5, \"max_new_tokens\": 200}.")
    return_document: bool = Field(False, description="Streaming: send the document's text (and page starts) first.")


class ChatRequest(BaseModel):
    """OpenAI's chat completion request; `strategy`, `adapter` and `options` are qfocus's own (extra_body)."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    strategy: str | None = None
    adapter: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


def create_app(config: ServeConfig, load=None) -> FastAPI:
    """The app for `config`. `load(adapter_folder) -> LoadedModel` defaults to `qfocus.models.load_for`
    of `config.model`; tests pass their own."""
    from qfocus.shipped import resolve_adapter

    if load is None:
        from qfocus.models import load_for

        def load(folder):
            return load_for(config, folder)

    worker = Worker(load, config.queue, config.max_document_tokens)
    files: OrderedDict[str, Document] = OrderedDict()  # uploaded documents by file id
    model_id = Path(config.model).name if Path(config.model).exists() else config.model

    @asynccontextmanager
    async def lifespan(app):
        await asyncio.to_thread(worker.start, resolve_adapter(SummarizeConfig().adapter, config.model))
        yield
        worker.stop()

    app = FastAPI(title="qfocus", summary="Query-focused summaries of long documents", lifespan=lifespan,
                  description="Answer a query about a document far longer than the model's window. See / for the web page.")
    app.state.worker = worker

    # -- errors: always {error, detail} --------------------------------------------------------
    @app.exception_handler(ServiceError)
    async def _service_error(request, error: ServiceError):
        return JSONResponse({"error": error.error, "detail": error.detail}, error.status, headers=error.headers)

    @app.exception_handler(QfocusError)
    async def _input_error(request, error: QfocusError):
        return JSONResponse({"error": "bad_request", "detail": str(error)}, 400)

    @app.exception_handler(HTTPException)
    async def _http_error(request, error: HTTPException):
        name = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_")
        return JSONResponse({"error": name, "detail": str(error.detail)}, error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, error: RequestValidationError):
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in error.errors())
        return JSONResponse({"error": "invalid_request", "detail": detail}, 422)

    @app.exception_handler(Exception)
    async def _internal(request, error: Exception):
        log.exception("unhandled error")
        return JSONResponse({"error": "internal_error", "detail": "the server failed on this request; its log has the cause"}, 500)

    @app.middleware("http")
    async def _limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > config.max_bytes + 65536:  # + room for the form's own fields
            return JSONResponse({"error": "too_large", "detail": f"the request body has {int(length):,} bytes; "
                                 f"this server takes at most {config.max_bytes:,} (--max-bytes)"}, 413)
        return await call_next(request)

    # -- requests into jobs -------------------------------------------------------------------
    def adapter_folder(name: str | None) -> str:
        if name is None or name in ("default", "none"):
            return name or SummarizeConfig().adapter
        if not ADAPTER_NAME.match(name) or ".." in name:
            raise ServiceError(400, "bad_adapter", f"'{name}' is not an adapter name: pass default, none, or a name from GET /v1/models")
        root = Path(config.adapter_dir).resolve() if config.adapter_dir else None
        folder = (root / name).resolve() if root else None
        if folder is None or folder.parent != root or not (folder / "adapter_config.json").is_file():
            raise ServiceError(404, "unknown_adapter", f"no adapter named '{name}' on this server: GET /v1/models lists them")
        return str(folder)

    def job_config(strategy: str | None, adapter: str | None, options: dict[str, Any]) -> SummarizeConfig:
        from qfocus.strategies import get_strategy

        settings = SummarizeConfig(model=config.model, dtype=config.dtype, decode_weights=config.decode_weights)
        settings = replace(settings, strategy=strategy or settings.strategy, adapter=adapter_folder(adapter))
        if not isinstance(options, dict):
            raise ServiceError(422, "invalid_request", "options must be a JSON object of option names and values")
        for key, value in options.items():
            key = key.replace("-", "_")
            if key in LOCKED:
                raise ServiceError(400, "bad_option", f"'{key}' cannot be set in options: "
                                   + ("pass it as its own field" if key in ("strategy", "adapter") else "the server sets it"))
            settings = set_option(settings, key, value, "options")
        if settings.generation.max_new_tokens > config.max_new_tokens:
            raise ServiceError(400, "bad_option", f"max_new_tokens is {settings.generation.max_new_tokens}; this server "
                               f"allows at most {config.max_new_tokens} (--max-new-tokens)")
        get_strategy(settings.strategy, settings)  # an unknown name or an unusable adapter: 400 before queueing
        return settings

    def submit(document: Document, query: str, settings: SummarizeConfig) -> tuple[Job, asyncio.Queue]:
        check_text(document.text)
        query = check_query(query)
        loop, events = asyncio.get_running_loop(), asyncio.Queue()
        job = Job(document, query, settings, lambda kind, data: loop.call_soon_threadsafe(events.put_nowait, (kind, data)),
                  deadline=time.monotonic() + config.max_seconds)
        try:
            worker.submit(job)
        except QueueFull:
            raise ServiceError(429, "queue_full", f"{config.queue} requests are already waiting: try again later",
                               headers={"Retry-After": str(max(1, round(config.max_seconds / 10)))}) from None
        return job, events

    async def next_event(request: Request, job: Job, events: asyncio.Queue) -> tuple[str, dict]:
        """The job's next event; cancels the job when the client has gone or the deadline has passed."""
        while True:
            try:
                return await asyncio.wait_for(events.get(), 0.5)
            except TimeoutError:
                if await request.is_disconnected():
                    job.cancel.set()
                    return "cancelled", {}
                if time.monotonic() > job.deadline + 5:  # the worker is stuck behind a long job
                    job.cancel.set()
                    return "error", dict(TIMEOUT)

    async def result(request: Request, job: Job, events: asyncio.Queue) -> dict:
        while True:
            kind, data = await next_event(request, job, events)
            if kind == "summary":
                return data
            if kind == "error":
                raise ServiceError(data["status"], data["error"], data["detail"])
            if kind == "cancelled":
                raise ServiceError(499, "cancelled", "the client closed the connection")

    def sse(kind: str, data: Any) -> str:
        return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    async def read_upload(form) -> tuple[Document, str]:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ServiceError(422, "invalid_request", "the multipart form needs a 'file' field with the document")
        data = await upload.read(config.max_bytes + 1)
        if len(data) > config.max_bytes:
            raise ServiceError(413, "too_large", f"{upload.filename} is larger than {config.max_bytes:,} bytes (--max-bytes)")
        return await asyncio.to_thread(load_document, data, upload.filename or "upload", config.max_bytes), upload.filename

    # -- routes -------------------------------------------------------------------------------
    async def require_token(request: Request) -> None:
        if config.token and not secrets.compare_digest(request.headers.get("authorization", "").encode(),
                                                       f"Bearer {config.token}".encode()):
            raise ServiceError(401, "unauthorized", "this server needs `Authorization: Bearer <token>` (its --token)",
                               headers={"WWW-Authenticate": "Bearer"})

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict:
        """Liveness: the model is loaded and how many requests wait."""
        return {"status": "ok" if worker.model is not None else "loading", "model": model_id,
                "running": worker.running is not None, "waiting": worker.waiting()}

    @v1.get("/strategies", tags=["service"])
    async def strategies() -> dict:
        """The strategies a request may name, with the default."""
        from qfocus.strategies import STRATEGIES

        return {"default": SummarizeConfig().strategy,
                "strategies": [{"name": n, "description": c.description} for n, c in sorted(STRATEGIES.items())]}

    @v1.get("/models", tags=["openai"])
    async def models() -> dict:
        """OpenAI's model list: the one model this process holds, and the adapters a request may name."""
        root = Path(config.adapter_dir) if config.adapter_dir else None
        adapters = sorted(p.name for p in root.iterdir() if (p / "adapter_config.json").is_file()) if root and root.is_dir() else []
        return {"object": "list", "data": [{"id": model_id, "object": "model", "created": 0, "owned_by": "qfocus",
                                            "adapters": ["default", "none", *adapters]}]}

    @v1.post("/summarize", tags=["qfocus"], openapi_extra={"requestBody": {"content": {
        "application/json": {"schema": SummarizeRequest.model_json_schema()},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file", "query"], "properties": {
            "file": {"type": "string", "format": "binary"}, "query": {"type": "string"}, "strategy": {"type": "string"},
            "adapter": {"type": "string"}, "options": {"type": "string", "description": "a JSON object"},
            "return_document": {"type": "boolean"}}}}}}})
    async def summarize(request: Request, stream: bool = False):
        """Answer `query` about a document: the `Summary` JSON, or with ?stream=true server-sent events
        `queued`, `document` (if asked), `progress`, `token`... then `summary` or `error`."""
        document = None
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            async with request.form(max_part_size=config.max_bytes + 1) as form:
                document, name = await read_upload(form)
                try:
                    options = json.loads(form.get("options") or "{}")
                except json.JSONDecodeError:
                    raise ServiceError(422, "invalid_request", "options must be a JSON object") from None
                body = SummarizeRequest(document=document.text, query=form.get("query") or "", strategy=form.get("strategy") or None,
                                        adapter=form.get("adapter") or None, options=options,
                                        return_document=str(form.get("return_document", "")).lower() in ("1", "true", "on"))
        else:
            try:
                body = SummarizeRequest.model_validate(await request.json())
            except json.JSONDecodeError:
                raise ServiceError(422, "invalid_request", "the body is not JSON: send {document, query} or a multipart form") from None
            except ValueError as error:  # pydantic's ValidationError
                raise RequestValidationError(error.errors()) from None
        if len(body.document.encode()) > config.max_bytes:
            raise ServiceError(413, "too_large", f"the document is larger than {config.max_bytes:,} bytes (--max-bytes)")
        settings = job_config(body.strategy, body.adapter, body.options)
        document = document or Document(body.document, "text", "request")
        job, events = submit(document, body.query, settings)
        if not stream:
            return await result(request, job, events)

        async def stream_events():
            try:
                if body.return_document:
                    yield sse("document", {"kind": document.kind, "text": document.text,
                                           "pages": list(document.pages) if document.pages else None})
                while True:
                    kind, data = await next_event(request, job, events)
                    if kind == "cancelled":
                        return
                    yield sse(kind, data)
                    if kind in FINAL:
                        return
            finally:
                job.cancel.set()  # the client went away mid-stream (or it ended): stop generating

        return StreamingResponse(stream_events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @v1.post("/files", tags=["openai"])
    async def upload_file(request: Request) -> dict:
        """Upload a document (OpenAI's files API); chat messages then name it in a `file` part."""
        async with request.form(max_part_size=config.max_bytes + 1) as form:
            document, name = await read_upload(form)
            purpose = form.get("purpose") or "user_data"
        file_id = "file-" + uuid.uuid4().hex[:24]
        files[file_id] = document
        while len(files) > config.files:
            files.popitem(last=False)
        return {"id": file_id, "object": "file", "bytes": len(document.text.encode()), "created_at": int(time.time()),
                "filename": name, "purpose": purpose, "status": "processed"}

    @v1.post("/chat/completions", tags=["openai"])
    async def chat(request: Request, body: ChatRequest):
        """OpenAI-compatible chat completion: the first user message is the document (text or a file part
        naming an uploaded file), the last user message is the query."""
        users = [m for m in body.messages if m.get("role") == "user"]
        if len(users) < 2:
            raise ServiceError(400, "bad_request", "send the document as the first user message and the query as the "
                               "last one (a file part may name an uploaded file)")
        if body.model != model_id:
            raise ServiceError(404, "model_not_found", f"this server holds '{model_id}', not '{body.model}' (GET /v1/models)")
        document = message_document(users[0], files)
        query = message_document(users[-1], files).text
        options = dict(body.options)
        for key, value in (("max_new_tokens", body.max_completion_tokens or body.max_tokens),
                           ("temperature", body.temperature), ("top_p", body.top_p)):
            if value is not None:
                options.setdefault(key, value)
        settings = job_config(body.strategy, body.adapter, options)
        job, events = submit(document, query, settings)
        created, completion_id = int(time.time()), "chatcmpl-" + uuid.uuid4().hex[:24]
        head = {"id": completion_id, "created": created, "model": model_id}
        if not body.stream:
            summary = await result(request, job, events)
            return {**head, "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": summary["summary"]}}],
                    "usage": usage(summary), "qfocus": summary}

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            data = {**head, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        async def stream_chunks():
            try:
                yield chunk({"role": "assistant", "content": ""})
                while True:
                    kind, data = await next_event(request, job, events)
                    if kind == "token":
                        yield chunk({"content": data["text"]})
                    elif kind == "summary":
                        yield chunk({}, "stop", usage=usage(data))
                        break
                    elif kind == "error":
                        yield f"data: {json.dumps({'error': {'message': data['detail'], 'type': data['error'], 'code': data['status']}})}\n\n"
                        break
                    elif kind == "cancelled":
                        return
                yield "data: [DONE]\n\n"
            finally:
                job.cancel.set()

        return StreamingResponse(stream_chunks(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    app.include_router(v1)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(PAGE / "index.html")

    app.mount("/page", StaticFiles(directory=PAGE), name="page")
    return app


def usage(summary: dict) -> dict:
    return {"prompt_tokens": summary["prompt_tokens"], "completion_tokens": summary["answer_tokens"],
            "total_tokens": summary["prompt_tokens"] + summary["answer_tokens"]}


def message_document(message: dict, files: dict[str, Document]) -> Document:
    """A chat message as a document: its content string, or its text parts and uploaded files joined
    (with the pages of a file that comes first)."""
    content = message.get("content")
    if isinstance(content, str):
        return Document(content, "text", "message")
    if not isinstance(content, list):
        raise ServiceError(400, "bad_request", "a message's content must be a string or a list of parts")
    texts, pages = [], None
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "file":
            file_id = (part.get("file") or {}).get("file_id")
            if file_id not in files:
                raise ServiceError(404, "unknown_file", f"no uploaded file '{file_id}' (POST /v1/files first; the server keeps the newest few)")
            document = files[file_id]
            if not texts and document.pages:
                pages = tuple(document.pages)
            texts.append(document.text)
        else:
            raise ServiceError(400, "bad_request", f"message parts of type '{kind}' are not supported: use text or file")
    return Document("\n\n".join(texts), "text" if pages is None else "pdf", "message", pages)
