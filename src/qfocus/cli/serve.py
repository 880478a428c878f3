"""`qfocus serve`: the HTTP service and its web page (qfocus.service)."""

from __future__ import annotations

import argparse
import ipaddress
import os

from qfocus.cli.args import add_config_arguments, build_config
from qfocus.service.config import ServeConfig

DESCRIPTION = """\
Serve one model over HTTP: a web page at / (paste text or drop a PDF, HTML, DOCX or text file, ask,
watch the answer stream and the passages it came from), a JSON/streaming API, and an
OpenAI-compatible /v1/chat/completions (the first user message is the document, the last the query).
Requests run one at a time in arrival order; --queue more may wait, beyond that HTTP 429.
Binds to 127.0.0.1 (this machine only) unless --host says otherwise; --token (or QFOCUS_TOKEN)
requires `Authorization: Bearer TOKEN` on /v1/*. Adapters are chosen by name from --adapter-dir,
never by a path. Requests get qfocus's defaults (qfocus.SummarizeConfig) for whatever they leave out.

endpoints:
  POST /v1/summarize          {document, query, strategy?, adapter?, options?}  or multipart: file, query, ...
                              ?stream=true: server-sent events queued, progress, token..., summary | error
  POST /v1/chat/completions   OpenAI chat (stream or not); strategy/adapter/options via extra fields
  POST /v1/files              upload a document for chat messages' {"type": "file"} parts
  GET  /v1/strategies  /v1/models  /healthz  /docs (OpenAPI)
"""

EXAMPLES = """\
examples:
  qfocus serve                                   # http://127.0.0.1:8000
  qfocus serve --port 9000 --adapter-dir runs/adapters --token s3cret
  curl -s localhost:8000/v1/summarize -H 'content-type: application/json' \\
       -d '{"document": "...", "query": "What was decided?"}'
  curl -sN 'localhost:8000/v1/summarize?stream=true' -F file=@report.pdf -F query='Which risks are named?'
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="HTTP service and web page (OpenAI-compatible chat too)",
                                   description=DESCRIPTION, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="YAML", help="read options from a YAML file (flags win)")
    add_config_arguments(parser, ServeConfig, "service")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn
    from rich.console import Console

    from qfocus.service import create_app

    config: ServeConfig = build_config(ServeConfig, args, args.config)
    if config.token is None and os.environ.get("QFOCUS_TOKEN"):
        config.token = os.environ["QFOCUS_TOKEN"]
    console = Console(stderr=True)
    if not _loopback(config.host) and not config.token:
        console.print(f"[yellow]warning: {config.host} is reachable from other machines and no --token is set[/]")
    console.print(f"loading {config.model} ...")
    console.print(f"qfocus serves {config.model} on http://{config.host}:{config.port}  (page: /, API docs: /docs)")
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="info")
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


