"""The served backend under faults: a small proxy on 127.0.0.1 in front of the reference server injects a timeout,
429 with Retry-After, 500, malformed JSON, a dropped connection, and a server that goes away mid-run. Every wait
is bounded (client timeout 2 s, Retry-After 1 s)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from adaptlab.errors import AdaptlabError
from adaptlab.models import ScoreRequest
from adaptlab.models.served import ServedModel
from adaptlab.serve.openai_server import ReferenceServer

TIMEOUT = 2.0  # the client's (generous: a loaded machine must not time out a real answer); a fault sleeps 3× this
RETRY_AFTER = 1


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a dropped connection is the point, not an error to print


class FaultProxy:
    """Forwards to `upstream`; the next requests get the faults in `faults`, in order. With `fail_after` set,
    every request after that many forwarded ones loses its connection (a server gone mid-run)."""

    def __init__(self, upstream: str):
        self.upstream = upstream.removesuffix("/v1")
        self.faults: deque[str] = deque()
        self.fail_after: int | None = None
        self.forwarded = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self, None)

            def do_POST(self) -> None:
                proxy.handle(self, self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        self.httpd = _Quiet(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, h: BaseHTTPRequestHandler, body: bytes | None) -> None:
        with self.lock:
            fault = self.faults.popleft() if self.faults else None
            if fault is None and self.fail_after is not None and self.forwarded >= self.fail_after:
                fault = "drop"
        if fault == "drop":
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "timeout":  # answer nothing until the client has given up
            time.sleep(3 * TIMEOUT)
            return
        if fault in ("429", "500"):
            return self.reply(h, int(fault), b'{"error": {"message": "injected"}}',
                              {"Retry-After": str(RETRY_AFTER)} if fault == "429" else {})
        if fault == "badjson":
            return self.reply(h, 200, b'{"choices": [{"text": ')
        request = urllib.request.Request(self.upstream + h.path, data=body, method=h.command,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                code, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, data = e.code, e.read()
        with self.lock:
            self.forwarded += 1
        self.reply(h, code, data)

    @staticmethod
    def reply(h: BaseHTTPRequestHandler, code: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        h.send_response(code)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


@pytest.fixture(scope="module")
def upstream(tiny):
    with ReferenceServer(tiny, served_name="tiny") as srv:
        yield srv


@pytest.fixture
def proxy(upstream):
    p = FaultProxy(upstream.url)
    yield p
    p.close()


def requests(n: int) -> list[ScoreRequest]:
    return [ScoreRequest("Some shared context.", f"Question {i} is", ("yes", "no", "maybe not")) for i in range(n)]


def model(url: str, cache: Path | bool, **kw) -> ServedModel:
    options = {"timeout": TIMEOUT, "retries": 3, "backoff": 0.01, "concurrency": 1, "context_window": 4096, **kw}
    return ServedModel(url, "tiny", cache=cache, **options)


def test_each_fault_is_retried_and_the_scores_are_unchanged(upstream, proxy, tmp_path: Path):
    want, _ = model(upstream.url, False).score(requests(2))
    for fault in ("timeout", "500", "badjson", "drop"):
        proxy.faults.extend([fault, fault])
        lm = model(proxy.url, tmp_path / f"{fault}.sqlite")
        got, _ = lm.score(requests(2))
        assert [[s.logprob for s in r] for r in got] == [[s.logprob for s in r] for r in want], fault
        assert lm.client.requests_sent == proxy.forwarded + 2
        proxy.forwarded = 0


def test_429_waits_for_retry_after(upstream, proxy, tmp_path: Path):
    lm = model(proxy.url, False)
    proxy.faults.append("429")
    start = time.perf_counter()
    assert lm.generate(["Hello"], max_new_tokens=2) == model(upstream.url, False).generate(["Hello"], max_new_tokens=2)
    assert time.perf_counter() - start >= RETRY_AFTER  # backoff alone would have waited 0.01 s


def test_giving_up_is_one_line_and_a_client_error_is_not_retried(proxy, tmp_path: Path):
    proxy.faults.extend(["500"] * 4)
    with pytest.raises(AdaptlabError, match=r"after 4 tries \(last: HTTP 500: injected\)") as e:
        model(proxy.url, False).generate(["x"])
    assert "\n" not in str(e.value)
    lm = model(proxy.url, False)
    sent = lm.client.requests_sent
    with pytest.raises(AdaptlabError, match="HTTP 400"):
        lm.generate(["x"], max_new_tokens=10**6)  # beyond the context window: the server says 400
    assert lm.client.requests_sent == sent + 1


@pytest.mark.parametrize("concurrency", [1, 3])
def test_interrupted_scoring_resumes_without_paying_twice(upstream, proxy, tmp_path: Path, concurrency: int):
    clean = model(upstream.url, tmp_path / "clean.sqlite")
    want, _ = clean.score(requests(8))
    paid_once = clean.client.requests_sent  # self-check + one request per distinct choice
    cache = tmp_path / "run.sqlite"
    proxy.fail_after = paid_once // 2  # the server goes away half way
    with pytest.raises(AdaptlabError, match="rerunning resumes"):
        model(proxy.url, cache, concurrency=concurrency).score(requests(8))
    before = proxy.forwarded
    assert 0 < before < paid_once
    proxy.fail_after = None  # back up
    got, _ = model(proxy.url, cache, concurrency=concurrency).score(requests(8))
    assert got == want
    # What was answered before the failure was not asked again; the one request asked again is the next-token
    # route's probe, which this server refuses (HTTP 400: no list of prompts), and a refusal is not cached.
    assert proxy.forwarded == paid_once + 1


def test_interrupted_generation_resumes_without_paying_twice(upstream, proxy, tmp_path: Path):
    prompts = [f"Prompt number {i}" for i in range(6)]
    want = model(upstream.url, False).generate(prompts, max_new_tokens=4)
    proxy.fail_after = 3
    with pytest.raises(AdaptlabError):
        model(proxy.url, tmp_path / "g.sqlite", concurrency=2).generate(prompts, max_new_tokens=4)
    proxy.fail_after = None
    assert model(proxy.url, tmp_path / "g.sqlite", concurrency=2).generate(prompts, max_new_tokens=4) == want
    assert proxy.forwarded == len(prompts)


def test_concurrency_is_bounded(upstream, tmp_path: Path):
    """`concurrency` requests are in flight at once, and never more: the proxy holds each request at a barrier
    until `concurrency` of them are there together (a client sending fewer at once breaks the barrier), and counts
    how many it holds."""
    concurrency = 3
    inflight, peak, lock = [0], [0], threading.Lock()
    together = threading.Barrier(concurrency, timeout=60)  # the timeout only ends a test that would hang
    broken: list[BaseException] = []

    class Together(FaultProxy):
        def handle(self, h, body):
            with lock:
                inflight[0] += 1
                peak[0] = max(peak[0], inflight[0])
            try:
                together.wait()
            except threading.BrokenBarrierError as e:
                broken.append(e)
            respond = h.send_response

            def answered(*args, **kwargs):  # out of flight once its answer starts: the client may then send the next
                with lock:
                    inflight[0] -= 1
                respond(*args, **kwargs)

            h.send_response = answered
            super().handle(h, body)

    proxy = Together(upstream.url)
    try:
        lm = model(proxy.url, False, concurrency=concurrency, timeout=120)  # no timeout retry adds a request
        lm.generate([f"p{i}" for i in range(3 * concurrency)], max_new_tokens=1)
        assert lm.client.requests_sent == 3 * concurrency
    finally:
        proxy.close()
    assert not broken, "fewer than `concurrency` requests were in flight together"
    assert peak[0] == concurrency


def test_malformed_answers_of_the_wrong_shape_are_retried(upstream, tmp_path: Path):
    class Shapeless(FaultProxy):
        bad = 2

        def handle(self, h, body):
            if self.bad:
                self.bad -= 1
                return self.reply(h, 200, json.dumps({"choices": []}).encode())
            return super().handle(h, body)

    p = Shapeless(upstream.url)
    try:
        assert model(p.url, False).generate(["Hi"], max_new_tokens=2) == model(upstream.url, False).generate(
            ["Hi"], max_new_tokens=2)
    finally:
        p.close()
