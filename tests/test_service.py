"""`qfocus serve`: every endpoint and error status with FastAPI's test client on a tiny model, the
answers equal to the library's own, and the streaming, queueing and cancellation rules on a live
server on 127.0.0.1 (the official `openai` client included)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import long_text, serving
from qfocus.config import GenerationConfig, SummarizeConfig
from qfocus.service import ServeConfig, create_app
from qfocus.strategies import STRATEGIES, get_strategy
from qfocus.strategies.base import Strategy, Summary

DOCUMENT = long_text(400)
QUERY = "What did the speakers decide?"


def loader(checkpoint):
    from qfocus.models import load_model

    return lambda folder: load_model(str(checkpoint), adapter=folder)


def direct(tiny_lm, strategy="truncate", **generation) -> dict:
    """The library's answer to DOCUMENT / QUERY: what the service must return."""
    config = SummarizeConfig(model=tiny_lm.name, strategy=strategy, adapter="none",
                             generation=GenerationConfig(**({"max_new_tokens": 24} | generation)))
    return get_strategy(strategy, config).summarize(tiny_lm, DOCUMENT, QUERY).to_dict()


@pytest.fixture
def client(tiny_checkpoint):
    app = create_app(ServeConfig(model=str(tiny_checkpoint), token=None), load=loader(tiny_checkpoint))
    with TestClient(app) as c:
        yield c


def events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_info_endpoints(client):
    assert client.get("/healthz").json()["status"] == "ok"
    strategies = client.get("/v1/strategies").json()
    assert strategies["default"] == SummarizeConfig().strategy
    assert {"truncate", "retrieve", "lift"} <= {s["name"] for s in strategies["strategies"]}
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["adapters"][:2] == ["default", "none"]
    assert "/v1/summarize" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text and "https://" not in page.text  # offline: no CDN


@pytest.mark.parametrize("strategy", ["truncate", "retrieve"])
def test_summarize_equals_the_library(client, tiny_lm, strategy):
    options = {"max_new_tokens": 24} | ({"scorer": "bm25"} if strategy == "retrieve" else {})
    got = client.post("/v1/summarize", json={"document": DOCUMENT, "query": QUERY, "strategy": strategy, "options": options})
    assert got.status_code == 200, got.text
    expected = direct(tiny_lm, strategy, **({"max_new_tokens": 24}))
    if strategy == "retrieve":
        config = SummarizeConfig(model=tiny_lm.name, strategy=strategy, adapter="none",
                                 generation=GenerationConfig(max_new_tokens=24))
        config.retrieval.scorer = "bm25"
        expected = get_strategy(strategy, config).summarize(tiny_lm, DOCUMENT, QUERY).to_dict()
        assert got.json()["passages"] == expected["passages"]
    assert got.json()["summary"] == expected["summary"]
    assert got.json()["prompt_tokens"] == expected["prompt_tokens"]


def test_stream_events_in_order_and_tokens_add_up(client, tiny_lm):
    got = client.post("/v1/summarize?stream=true", json={"document": DOCUMENT, "query": QUERY, "options": {"max_new_tokens": 24},
                                                          "return_document": True})
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/event-stream")
    stream = events(got.text)
    kinds = [k for k, _ in stream]
    assert kinds[0] == "document" and kinds[1] == "queued" and kinds[-1] == "summary"
    assert "progress" in kinds and kinds.index("progress") < kinds.index("token")
    assert set(kinds[2:-1]) <= {"progress", "token"}
    assert stream[0][1]["text"] == DOCUMENT
    summary = stream[-1][1]
    assert "".join(d["text"] for k, d in stream if k == "token").strip() == summary["summary"]
    assert summary["summary"] == direct(tiny_lm)["summary"]


def test_upload_a_file_as_multipart(client, tiny_lm):
    files = {"file": ("meeting.txt", DOCUMENT.encode(), "text/plain")}
    got = client.post("/v1/summarize", files=files, data={"query": QUERY, "options": json.dumps({"max_new_tokens": 24})})
    assert got.status_code == 200, got.text
    assert got.json()["summary"] == direct(tiny_lm)["summary"]


@pytest.mark.parametrize("body, status, needle", [
    ({"document": DOCUMENT, "query": "  "}, 400, "query is empty"),
    ({"document": " ", "query": QUERY}, 400, "is empty"),
    ({"document": DOCUMENT, "query": QUERY, "strategy": "magic"}, 400, "unknown strategy 'magic'"),
    ({"document": DOCUMENT, "query": QUERY, "options": {"bogus": 1}}, 400, "unknown setting 'bogus'"),
    ({"document": DOCUMENT, "query": QUERY, "options": {"coverage": "lots"}}, 400, "is not a float"),
    ({"document": DOCUMENT, "query": QUERY, "options": {"model": "/etc"}}, 400, "the server sets it"),
    ({"document": DOCUMENT, "query": QUERY, "options": {"max_new_tokens": 100000}}, 400, "at most 1024"),
    ({"document": DOCUMENT, "query": QUERY, "adapter": "../../etc"}, 400, "is not an adapter name"),
    ({"document": DOCUMENT, "query": QUERY, "adapter": "/tmp/x"}, 400, "is not an adapter name"),
    ({"document": DOCUMENT, "query": QUERY, "adapter": "mine"}, 404, "no adapter named 'mine'"),
    ({"document": DOCUMENT}, 422, "query: Field required"),
    ({"document": DOCUMENT, "query": QUERY, "extra": 1}, 422, "extra: Extra inputs are not permitted"),
])
def test_bad_requests_are_json_errors(client, body, status, needle):
    got = client.post("/v1/summarize", json=body)
    assert got.status_code == status, got.text
    assert set(got.json()) == {"error", "detail"} and needle in got.json()["detail"], got.json()


def test_more_error_statuses(tiny_checkpoint, tmp_path):
    app = create_app(ServeConfig(model=str(tiny_checkpoint), max_bytes=5000, max_document_tokens=50,
                                 adapter_dir=str(tmp_path)), load=loader(tiny_checkpoint))
    (tmp_path / "secret").mkdir()  # no adapter_config.json: not an adapter
    with TestClient(app) as c:
        assert c.post("/v1/summarize", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
        big = c.post("/v1/summarize", json={"document": "word " * 3000, "query": QUERY})
        assert big.status_code == 413 and big.json()["error"] == "too_large"
        long = c.post("/v1/summarize", json={"document": DOCUMENT[:4000], "query": QUERY})
        assert long.status_code == 413 and "--max-document-tokens" in long.json()["detail"]
        assert c.post("/v1/summarize", json={"document": DOCUMENT, "query": QUERY, "adapter": "secret"}).status_code == 404
        assert c.get("/v1/nothing").json() == {"error": "not_found", "detail": "Not Found"}
        assert c.get("/v1/summarize").status_code == 405


class Boom(Strategy):
    name, description = "boom", "fails inside the worker"

    def summarize(self, lm, document, query, callbacks=None):
        raise RuntimeError("/secret/path/of/the/server in a traceback")


def test_an_internal_failure_is_a_500_without_traceback(client, monkeypatch):
    monkeypatch.setitem(STRATEGIES, "boom", Boom)
    got = client.post("/v1/summarize", json={"document": DOCUMENT, "query": QUERY, "strategy": "boom"})
    assert got.status_code == 500 and set(got.json()) == {"error", "detail"}
    assert "secret" not in got.text and "Traceback" not in got.text
    assert client.get("/healthz").json()["status"] == "ok"  # and the worker still serves


def test_token_is_required_when_set(tiny_checkpoint):
    app = create_app(ServeConfig(model=str(tiny_checkpoint), token="s3cret"), load=loader(tiny_checkpoint))
    with TestClient(app) as c:
        body = {"document": DOCUMENT, "query": QUERY, "options": {"max_new_tokens": 4}}
        assert c.get("/healthz").status_code == 200  # liveness stays open
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            got = c.post("/v1/summarize", json=body, headers=headers)
            assert got.status_code == 401 and got.headers["www-authenticate"] == "Bearer" and got.json()["error"] == "unauthorized"
        assert c.get("/v1/models").status_code == 401
        assert c.post("/v1/summarize", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200


# -- a live server: queueing, cancellation and the openai client -----------------------------------

class Slow(Strategy):
    """Reports progress every 10 ms until released; records how it ended."""

    name, description = "slow", "waits for the test"
    release = threading.Event()
    ended: list[str] = []

    def summarize(self, lm, document, query, callbacks=None):
        try:
            for i in range(3000):
                callbacks.on_progress("waiting", i, 3000)
                if self.release.wait(0.01):
                    break
        except Exception as stop:
            self.ended.append(type(stop).__name__)
            raise
        self.ended.append("done")
        return Summary("slow answer", self.name, lm.name, 1, 1, 0, 2, 0.0)


@pytest.fixture
def slow(monkeypatch):
    """The `slow` strategy registered, waiting, with no record yet."""
    monkeypatch.setitem(STRATEGIES, "slow", Slow)
    Slow.release.clear()
    Slow.ended.clear()
    yield Slow
    Slow.release.set()


@pytest.fixture
def live(tiny_checkpoint, slow):
    """A real uvicorn server on 127.0.0.1 (free port), queue of 1, in a thread."""
    app = create_app(ServeConfig(model=str(tiny_checkpoint), queue=1, max_seconds=60), load=loader(tiny_checkpoint))
    with serving(app) as url:
        yield url, app
        Slow.release.set()


def wait_until(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_queue_full_is_429_with_retry_after(live):
    url, app = live
    worker = app.state.worker
    body = {"document": DOCUMENT, "query": QUERY, "strategy": "slow"}
    first = threading.Thread(target=httpx.post, args=(f"{url}/v1/summarize",), kwargs={"json": body, "timeout": 60})
    first.start()
    wait_until(lambda: worker.running is not None)
    second = threading.Thread(target=httpx.post, args=(f"{url}/v1/summarize",), kwargs={"json": body, "timeout": 60})
    second.start()
    wait_until(lambda: worker.waiting() == 1)
    refused = httpx.post(f"{url}/v1/summarize", json=body, timeout=60)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"] == "queue_full"
    Slow.release.set()
    first.join(30)
    second.join(30)
    assert Slow.ended == ["done", "done"]


def test_a_client_that_disconnects_cancels_its_generation(live):
    url, app = live
    with httpx.stream("POST", f"{url}/v1/summarize?stream=true", timeout=60,
                      json={"document": DOCUMENT, "query": QUERY, "strategy": "slow"}) as response:
        for line in response.iter_lines():
            if line.startswith("event: progress"):
                break  # seen the job running: hang up
    wait_until(lambda: Slow.ended == ["_Stop"])
    wait_until(lambda: app.state.worker.running is None)
    after = httpx.post(f"{url}/v1/summarize", json={"document": DOCUMENT, "query": QUERY, "options": {"max_new_tokens": 4}}, timeout=60)
    assert after.status_code == 200  # the server goes on serving


def test_the_openai_client_against_a_live_server(live, tiny_lm, tmp_path):
    from openai import OpenAI

    url, _ = live
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list().data] == [tiny_lm.name.rsplit("/", 1)[-1]]
    model = client.models.list().data[0].id
    messages = [{"role": "user", "content": DOCUMENT}, {"role": "user", "content": QUERY}]
    expected = direct(tiny_lm)["summary"]
    reply = client.chat.completions.create(model=model, messages=messages, max_tokens=24)
    assert reply.choices[0].message.content == expected and reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens > 0
    pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model=model, messages=messages, max_tokens=24, stream=True)]
    assert "".join(pieces).strip() == expected
    path = tmp_path / "meeting.txt"
    path.write_text(DOCUMENT)
    uploaded = client.files.create(file=path.open("rb"), purpose="user_data")
    with_file = client.chat.completions.create(model=model, max_tokens=24, messages=[
        {"role": "user", "content": [{"type": "file", "file": {"file_id": uploaded.id}}]},
        {"role": "user", "content": QUERY}])
    assert with_file.choices[0].message.content == expected
    from openai import BadRequestError, NotFoundError

    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=messages)
    with pytest.raises(BadRequestError):
        client.chat.completions.create(model=model, messages=messages[-1:])


def test_a_pdf_upload_cites_pages(client):
    from test_documents import make_pdf

    words = DOCUMENT.split()
    pages = [[" ".join(words[i:i + 12]) for i in range(start, start + 120, 12)] for start in (0, 120, 240)]
    got = client.post("/v1/summarize?stream=true", files={"file": ("report.bin", make_pdf(pages), "application/octet-stream")},
                      data={"query": QUERY, "strategy": "retrieve", "return_document": "true",
                            "options": json.dumps({"scorer": "bm25", "max_new_tokens": 8, "context_window": 160})})
    stream = events(got.text)
    document, summary = stream[0][1], stream[-1][1]
    assert document["kind"] == "pdf" and len(document["pages"]) == 3 and document["pages"][0] == 0
    assert summary["document"] == {"kind": "pdf", "pages": 3}
    for passage in summary["passages"]:
        first = sum(start <= passage["start"] for start in document["pages"])
        assert passage["page"][0] == first
    bad = client.post("/v1/summarize", files={"file": ("scan.pdf", b"%PDF-1.4\n broken", "application/pdf")}, data={"query": QUERY})
    assert bad.status_code == 400 and "cannot be read as a PDF" in bad.json()["detail"]


def test_time_limit_is_504_and_errors_arrive_as_stream_events(tiny_checkpoint, slow):
    app = create_app(ServeConfig(model=str(tiny_checkpoint), max_seconds=0.3, max_document_tokens=50), load=loader(tiny_checkpoint))
    with TestClient(app) as c:
        late = c.post("/v1/summarize", json={"document": "short text", "query": QUERY, "strategy": "slow"})
        assert late.status_code == 504 and late.json()["error"] == "timeout" and Slow.ended == ["_Stop"]
        streamed = events(c.post("/v1/summarize?stream=true", json={"document": DOCUMENT, "query": QUERY}).text)
        assert [k for k, _ in streamed] == ["queued", "error"] and streamed[-1][1]["status"] == 413
        missing = c.post("/v1/chat/completions", json={"model": tiny_checkpoint.name, "messages": [
            {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-nope"}}]}, {"role": "user", "content": QUERY}]})
        assert missing.status_code == 404 and missing.json()["error"] == "unknown_file"
        image = c.post("/v1/chat/completions", json={"model": tiny_checkpoint.name, "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}, {"role": "user", "content": QUERY}]})
        assert image.status_code == 400 and "image_url" in image.json()["detail"]
        assert c.post("/v1/chat/completions", json={"messages": []}).status_code == 422
