"""Servers that are not quite OpenAI-compatible, and served options out of range: each is one line that says what
to do, at once (no retries for what retrying cannot mend), before any request where the spec alone is wrong."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from adaptlab.errors import AdaptlabError
from adaptlab.models import ScoreRequest
from adaptlab.models.served import ServedModel
from adaptlab.models.served_spec import parse_spec


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, object]]] = {}
    hits: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        self.hits.append(self.path)
        status, body = self.routes.get(self.path, (404, "not found"))
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(body, str) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer()


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"routes": {}, "hits": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("option", ["timeout=-1", "timeout=0", "backoff=-1", "max_wait=-1", "retries=-1",
                                    "context_window=0", "concurrency=0", "n_params=-5"])
def test_served_options_out_of_range_are_refused_before_any_request(server, option: str):
    url, handler = server
    name = option.split("=")[0]
    with pytest.raises(AdaptlabError, match=f"option {name} must be") as err:
        ServedModel.from_spec(f"openai:{url}#model=m,{option}")
    assert "\n" not in str(err.value) and handler.hits == []


@pytest.mark.parametrize("value", ["onn", "maybe", ""])
def test_a_yes_no_option_with_another_word_is_refused(value: str):
    with pytest.raises(AdaptlabError, match=f"option check={value!r}: expected on or off"):
        parse_spec(f"openai:http://127.0.0.1:1/v1#model=m,check={value}")
    assert parse_spec("openai:http://127.0.0.1:1/v1#model=m,check=off")[1]["check"] is False


def test_a_plain_http_server_is_told_apart_from_a_server_without_a_window(server):
    url, _ = server  # answers 404 to everything, as a plain web server would
    with pytest.raises(AdaptlabError) as err:
        ServedModel(url, cache=False)
    message = str(err.value)
    assert "answered 404" in message and "model=NAME and context_window=N" in message and "/v1" in message


def test_a_failing_model_listing_says_how_to_skip_it(server):
    url, handler = server
    handler.routes["/v1/models"] = (500, {"error": {"message": "boom"}})
    with pytest.raises(AdaptlabError, match="model=NAME and context_window=N skip this request"):
        ServedModel(url, "m", cache=False, backoff=0)
    assert handler.hits.count("/v1/models") == 2  # one retry, not five
    ServedModel(url, "m", context_window=64, cache=False, check=False)  # both given: the listing is not asked


def test_completions_without_logprobs_name_the_generative_protocol_at_once(server):
    url, handler = server
    handler.routes["/v1/models"] = (200, {"data": [{"id": "m", "max_model_len": 512}]})
    handler.routes["/v1/completions"] = (200, {"choices": [{"text": "x", "index": 0}], "usage": {}})
    # one request at a time, so what is sent is deterministic: side by side, the second choice's request may or may
    # not have started when the first one's answer cancels the rest
    lm = ServedModel(url, "m", cache=False, check=False, backoff=0, concurrency=1)
    with pytest.raises(AdaptlabError, match="protocol=generative-mc") as err:
        lm.score([ScoreRequest("", "The cat", ("sat", "ran"))])
    assert "rerunning resumes" not in str(err.value)
    assert handler.hits.count("/v1/completions") == 1  # said at the first answer: not retried, nothing sent after it


def test_a_server_in_reduced_precision_is_told_its_answers_may_move(server, caplog, monkeypatch):
    """Prompt and generation-time log-probabilities 0.03 nats apart pass the self-check (a correct server in
    bfloat16) but can flip close answers: said, with what to do. In float32 (1e-5 apart) nothing is said."""
    from adaptlab.models import served, served_check

    def completion(skew: float):
        def answer(body: dict, check=None) -> dict:
            probe = body["prompt"]
            echo = bool(body.get("echo"))
            start = len(probe) - len(" is Paris") if echo else 0
            return {"choices": [{"text": "" if echo else " is Paris", "logprobs": {
                "tokens": [" is", " Paris"], "token_logprobs": [-0.5 + (skew if echo else 0), -0.2],
                "text_offset": [start, start + 3]}}]}
        return answer

    precise = served_check.check_prompt_logprobs(completion(1e-5), "m")
    assert precise["max_abs_diff"] < 1e-4 and served_check.precision_note(precise, "m") is None
    loose = served_check.check_prompt_logprobs(completion(0.03), "m")
    assert loose["max_abs_diff"] == pytest.approx(0.03)
    url, handler = server
    handler.routes["/v1/models"] = (200, {"data": [{"id": "m", "max_model_len": 512}]})
    lm = ServedModel(url, "m", cache=False)
    monkeypatch.setattr(served, "check_prompt_logprobs", lambda *_: loose)
    with caplog.at_level("WARNING", logger="adaptlab.served"):
        lm.self_check()
    (record,) = caplog.records
    assert "reduced precision" in record.getMessage() and "--dtype float32" in record.getMessage()
