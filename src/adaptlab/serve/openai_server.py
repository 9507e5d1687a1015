"""A small OpenAI-compatible server over a local transformers model: the reference for tests and benchmarks.

It exists because no server that computes correct prompt log-probabilities runs on this project's CPU machines
(vLLM's wheels are CUDA-only; llama.cpp's server returns wrong ones). It serves `/v1/models`, `/tokenize` (as
vLLM does), `/v1/completions` (with `echo` and `logprobs`, greedy or seeded sampling, `stop`) and
`/v1/chat/completions`, one request at a time, with exact log-probabilities from one full forward per request (no
prefix cache, which is what a server pays for prompt log-probabilities). It is not for production.

    python -m adaptlab.serve.openai_server --model tiny --port 8011

`wrong_prompt_logprobs=True` makes it return each prompt token's log-probability from its own position's logits
instead of the previous one's (an off-by-one a real server can have), for testing the backend's self-check.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch

from adaptlab.models.base import TrainableModel


class ReferenceServer:
    """Serve `lm` under the name `served_name` on 127.0.0.1 (port 0: any free port) in a background thread."""

    def __init__(self, lm: TrainableModel, *, served_name: str = "model", host: str = "127.0.0.1", port: int = 0,
                 api_key: str | None = None, wrong_prompt_logprobs: bool = False):
        self.lm = lm
        self.served_name = served_name
        self.api_key = api_key
        self.wrong_prompt_logprobs = wrong_prompt_logprobs
        self.lock = threading.Lock()
        self.requests = 0
        self.auth_seen: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self, "GET", None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                server.handle(self, "POST", self.rfile.read(length))

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ReferenceServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- HTTP

    def handle(self, h: BaseHTTPRequestHandler, method: str, raw: bytes | None) -> None:
        self.requests += 1
        auth = h.headers.get("Authorization") or ""
        self.auth_seen.append(auth)
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            return _send(h, 401, {"error": {"message": "invalid API key"}})
        path = h.path.split("?")[0]
        try:
            body = json.loads(raw) if raw else {}
            if method == "GET" and path == "/v1/models":
                return _send(h, 200, {"object": "list", "data": [
                    {"id": self.served_name, "object": "model", "max_model_len": self.lm.context_window}]})
            if method == "POST" and path == "/tokenize":
                text = body.get("prompt", "")
                ids = self.lm.tokenizer(text, add_special_tokens=bool(body.get("add_special_tokens", True))).input_ids
                return _send(h, 200, {"tokens": list(ids), "count": len(ids), "max_model_len": self.lm.context_window})
            if method == "POST" and path in ("/v1/completions", "/v1/chat/completions"):
                if body.get("model") != self.served_name:
                    return _send(h, 404, {"error": {"message": f"model {body.get('model')!r} is not served"}})
                with self.lock:
                    if path == "/v1/completions":
                        return _send(h, 200, self.completions(body))
                    return _send(h, 200, self.chat_completions(body))
            return _send(h, 404, {"error": {"message": f"no route {method} {path}"}})
        except ValueError as e:
            return _send(h, 400, {"error": {"message": str(e)}})

    # ----------------------------------------------------------------- model

    def _tokens(self, text: str) -> tuple[list[int], list[int], list[str]]:
        """ids, each token's character offset, and its text (offsets made contiguous: a token starts where the
        previous one ended, so a space merged into a token belongs to it)."""
        enc = self.lm.tokenizer(text, add_special_tokens=not self.lm.chat, return_offsets_mapping=True)
        ids, offsets, pieces, end = list(enc.input_ids), [], [], 0
        for _, stop in enc.offset_mapping:
            start, stop = end, max(end, stop)
            offsets.append(start)
            pieces.append(text[start:stop] if stop > start else self.lm.tokenizer.decode([ids[len(pieces)]]))
            end = stop
        return ids, offsets, pieces

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise ValueError("prompt must be a string")
        text, ids, offsets, pieces, logprobs, n_gen = self._run(prompt, body)
        choice: dict[str, Any] = {"index": 0, "text": (prompt + text) if body.get("echo") else text,
                                  "finish_reason": "length" if n_gen >= int(body.get("max_tokens", 16)) else "stop"}
        if body.get("logprobs") is not None:
            start = 0 if body.get("echo") else len(ids) - n_gen
            choice["logprobs"] = {"tokens": pieces[start:], "token_logprobs": logprobs[start:],
                                  "text_offset": [o - (0 if body.get("echo") else len(prompt)) for o in
                                                  offsets[start:]],
                                  "top_logprobs": None}
        usage = {"prompt_tokens": len(ids) - n_gen, "completion_tokens": n_gen, "total_tokens": len(ids)}
        return {"id": "cmpl-ref", "object": "text_completion", "model": self.served_name, "choices": [choice],
                "usage": usage}

    def chat_completions(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or []
        if self.lm.chat:
            prompt = self.lm.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            prompt = "".join(str(m.get("content", "")) + "\n\n" for m in messages)
        text, ids, _, _, _, n_gen = self._run(prompt, {**body, "logprobs": None, "echo": False})
        return {"id": "chat-ref", "object": "chat.completion", "model": self.served_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": len(ids) - n_gen, "completion_tokens": n_gen, "total_tokens": len(ids)}}

    def _run(self, prompt: str, body: dict[str, Any]
             ) -> tuple[str, list[int], list[int], list[str], list[float | None], int]:
        """Generate after `prompt`; returns the new text, and ids, offsets, pieces and log-probabilities of the
        prompt followed by the generated tokens, and the number generated."""
        max_tokens = int(body.get("max_tokens", 16))
        temperature = float(body.get("temperature", 1.0))
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        ids, offsets, pieces = self._tokens(prompt)
        if len(ids) + max_tokens > self.lm.context_window:
            raise ValueError(f"{len(ids)} prompt tokens + {max_tokens} new exceed the context window "
                             f"({self.lm.context_window})")
        model = self.lm.torch_model
        want_prompt = bool(body.get("echo")) and body.get("logprobs") is not None
        generator = torch.Generator().manual_seed(int(body.get("seed") or 0))
        eos = {self.lm.tokenizer.eos_token_id}
        logprobs: list[float | None] = [None] * len(ids)
        new: list[int] = []
        text = ""
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=0 if want_prompt else 1)
            if want_prompt:
                logp = torch.log_softmax(out.logits[0].float(), dim=-1)
                shift = 0 if self.wrong_prompt_logprobs else 1
                for k in range(1, len(ids)):
                    logprobs[k] = float(logp[k - shift, ids[k]])
            last = out.logits[0, -1].float()
            past = out.past_key_values
            for step in range(max_tokens):
                step_logp = torch.log_softmax(last, dim=-1)
                if temperature > 0:
                    token = int(torch.multinomial(torch.softmax(last / temperature, dim=-1), 1, generator=generator))
                else:
                    token = int(last.argmax())
                if token in eos:
                    break
                new.append(token)
                logprobs.append(float(step_logp[token]))
                text = self._decode_after(ids, new)
                if any(s and s in text for s in stop):
                    break
                if step + 1 < max_tokens:
                    out = model(input_ids=torch.tensor([[token]]), past_key_values=past, use_cache=True)
                    last, past = out.logits[0, -1].float(), out.past_key_values
        cut = min((text.find(s) for s in stop if s and s in text), default=len(text))
        text = text[:cut]
        # Generated tokens' offsets, from their decoded prefixes.
        done = ""
        for k in range(len(new)):
            piece = self._decode_after(ids, new[: k + 1])[len(done):]
            offsets.append(len(prompt) + len(done))
            pieces.append(piece)
            done += piece
        return text, ids + new, offsets, pieces, logprobs, len(new)


    def _decode_after(self, ids: list[int], new: list[int]) -> str:
        """The text of `new` as it continues `ids` (decoded together, as servers detokenize incrementally: a
        tokenizer that joins words with spaces puts one before the first new word)."""
        tail = ids[-8:]
        decode = self.lm.tokenizer.decode
        return decode(tail + new, skip_special_tokens=True)[len(decode(tail, skip_special_tokens=True)):]


def _send(h: BaseHTTPRequestHandler, code: int, value: dict[str, Any]) -> None:
    data = json.dumps(value).encode()
    h.send_response(code)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def main() -> None:
    from adaptlab.models.registry import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", help="an adaptlab model spec (alias, folder, hub id)")
    parser.add_argument("--name", default=None, help="the served model's name (default: the spec)")
    parser.add_argument("--port", type=int, default=8011)
    args = parser.parse_args()
    lm = load_model(args.model, device="cpu")
    if not isinstance(lm, TrainableModel):
        raise SystemExit("error: the reference server serves local models only")
    server = ReferenceServer(lm, served_name=args.name or args.model, port=args.port)
    print(f"serving {args.model} as {server.served_name!r} at {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.httpd.serve_forever()


if __name__ == "__main__":
    main()
