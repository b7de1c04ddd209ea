"""Search-R1's retrieval-server API: a client (`HttpRetriever`) and a server (`make_server`).

The API (Search-R1 ``search_r1/search/retrieval_server.py``): ``POST /retrieve`` with
``{"queries": [...], "topk": k, "return_scores": bool}`` answers
``{"result": [[hit, ...], ...]}``, one list per query, best first. With
``return_scores`` a hit is ``{"document": {"id", "contents"}, "score": float}``, without
it the document itself.

The client never hangs: every request has a timeout, a failed request (connection
refused, timeout, HTTP 5xx) is retried a bounded number of times with exponential
back-off, and then one `EnvError` says the server is down and how to start one. A 4xx
answer or a malformed body is an error at once (retrying would not help).

The server is the standard library's ``ThreadingHTTPServer`` around any `Retriever`;
``sdar serve-retriever --corpus FILE`` runs it over a BM25 index.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sdar.envs.base import EnvError
from sdar.envs.searchqa.data import Passage
from sdar.envs.searchqa.retrievers import Retriever

logger = logging.getLogger(__name__)

SERVER_HELP = (
    "start one with  sdar serve-retriever --corpus FILE  or point the url at a running one"
)


def _passage(hit: Any) -> Passage:
    """A Passage from one hit of either response shape."""
    doc, score = (hit["document"], hit.get("score", 0.0)) if "document" in hit else (hit, 0.0)
    contents = doc.get("contents")
    if contents is None:  # servers over title/text corpora
        contents = f'"{doc.get("title", "")}"\n{doc.get("text", "")}'
    return Passage(str(doc.get("id", "")), str(contents), float(score or 0.0))


class HttpRetriever:
    """`Retriever` over a Search-R1 retrieval server at ``url`` (``.../retrieve``)."""

    def __init__(
        self, url: str, *, timeout: float = 30.0, retries: int = 3, backoff: float = 0.5
    ) -> None:
        if timeout <= 0 or retries < 1 or backoff < 0:
            raise ValueError(
                f"HttpRetriever: need timeout > 0, retries >= 1, backoff >= 0; got "
                f"timeout={timeout}, retries={retries}, backoff={backoff}"
            )
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    def search(self, queries: Sequence[str], topk: int) -> list[list[Passage]]:
        if not queries:
            return []
        body = {"queries": list(queries), "topk": topk, "return_scores": True}
        result = self._post(body).get("result")
        if not isinstance(result, list) or len(result) != len(queries):
            raise EnvError(
                f"retrieval server at {self.url} answered without a 'result' list of "
                f"{len(queries)} entries; is it a Search-R1 retrieval server?"
            )
        try:
            return [[_passage(hit) for hit in hits] for hits in result]
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise EnvError(f"retrieval server at {self.url} sent malformed hits: {exc}") from None

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        last = ""
        for attempt in range(self.retries):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    raise EnvError(
                        f"retrieval server at {self.url} refused the request: HTTP {exc.code} "
                        f"{exc.read()[:200]!r}"
                    ) from None
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = str(getattr(exc, "reason", exc)) or type(exc).__name__
            except json.JSONDecodeError as exc:
                raise EnvError(f"retrieval server at {self.url} sent invalid JSON: {exc}") from None
            logger.warning(
                "retrieval request %d/%d to %s failed: %s",
                attempt + 1,
                self.retries,
                self.url,
                last,
            )
        raise EnvError(
            f"retrieval server at {self.url} is down or too slow: {self.retries} tries with a "
            f"{self.timeout:g} s timeout failed (last: {last}); {SERVER_HELP}"
        )


def _handler(retriever: Retriever, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class RetrieveHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.rstrip("/") != "/retrieve":
                self._send(404, {"error": f"unknown path {self.path}; POST /retrieve"})
                return
            try:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                queries = body["queries"]
                topk = int(body.get("topk") or 3)
                scores = bool(body.get("return_scores", False))
                if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
                    raise TypeError("'queries' must be a list of strings")
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, {"error": f"bad request: {exc}"})
                return
            with lock:  # retrievers need not be thread-safe
                hits = retriever.search(queries, topk)
            result = [
                [
                    {"document": {"id": p.id, "contents": p.contents}, "score": p.score}
                    if scores
                    else {"id": p.id, "contents": p.contents}
                    for p in row
                ]
                for row in hits
            ]
            self._send(200, {"result": result})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                logger.info("client %s left before its answer was sent", self.address_string())

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.debug("%s " + format, self.address_string(), *args)

    return RetrieveHandler


def make_server(
    retriever: Retriever, host: str = "127.0.0.1", port: int = 8000
) -> ThreadingHTTPServer:
    """A bound (not yet serving) server; call ``serve_forever()``. Port 0 picks a free one."""
    server = ThreadingHTTPServer((host, port), _handler(retriever, threading.Lock()))
    server.daemon_threads = True
    return server
