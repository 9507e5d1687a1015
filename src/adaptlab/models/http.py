"""HTTP transport for OpenAI-compatible servers: JSON requests with a timeout, retries, an on-disk response cache,
and checks of the wire format (the shapes of completion and chat answers, and of their `usage`).

Every request has a timeout and is retried with exponential backoff on timeouts, dropped connections, malformed
JSON, answers of the wrong shape, 429 and 5xx (a `Retry-After` header is honoured, up to `max_wait`); any other 4xx
is an `HTTPStatusError`, not retried. Every answer can be kept in a `ResponseCache` (SQLite, keyed by server, path
and request body) the moment it arrives, so an interrupted run resumes without paying again for what was already
answered. An API key is read from the environment variable named by `key_env` at each request; it is never
stored, cached, logged or shown in an error message. `pool_map` runs requests at most `concurrency` at a time.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import os
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaptlab.errors import AdaptlabError


@dataclass(frozen=True)
class Usage:
    """Tokens a server says it used (an answer's `usage`): prompt, of which cached, and completion. Usages add up."""

    prompt: int = 0
    cached: int = 0
    completion: int = 0

    @classmethod
    def of(cls, usage: dict[str, Any] | None) -> Usage:
        """From an answer's `usage` object (missing fields count zero)."""
        usage = usage or {}
        return cls(
            prompt=int(usage.get("prompt_tokens") or 0),
            cached=int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0),
            completion=int(usage.get("completion_tokens") or 0),
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt + other.prompt, self.cached + other.cached, self.completion + other.completion)


class HTTPStatusError(AdaptlabError):
    """A client error from the server (4xx other than 429): not retried."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class _Retry(Exception):
    """A failure worth another try (timeout, dropped connection, 429, 5xx, malformed JSON)."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.wait = wait


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ResponseCache:
    """Server answers on disk: (server, path, request body) → JSON. Written the moment each answer arrives."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=60, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, body TEXT NOT NULL)")

    @staticmethod
    def key(server: str, path: str, body: dict[str, Any]) -> str:
        blob = json.dumps({"server": server, "path": path, "body": body}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)", (key, json.dumps(value)))


class Client:
    """JSON over HTTP with a timeout and retries. Errors are one line naming the server, never the key."""

    def __init__(
        self, base_url: str, *, key_env: str = "OPENAI_API_KEY", timeout: float = 60.0, retries: int = 5,
        backoff: float = 0.5, max_wait: float = 60.0, cache: ResponseCache | None = None,
    ):
        self.base_url = base_url
        self.key_env = key_env
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.cache = cache
        self.requests_sent = 0  # HTTP requests actually made (cache hits excluded), for tests and reports
        self.cache_hits = 0
        self._count_lock = threading.Lock()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _once(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=self._headers())
        with self._count_lock:
            self.requests_sent += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            detail = _server_message(e)
            if e.code == 429 or e.code >= 500:
                raise _Retry(f"HTTP {e.code}{detail}", _retry_after(e.headers.get("Retry-After"))) from None
            message = f"served model at {self.base_url}: HTTP {e.code} from {url}{detail}"
            raise HTTPStatusError(message, e.code) from None
        except TimeoutError:
            raise _Retry(f"no answer within {self.timeout:g} s") from None
        except urllib.error.URLError as e:
            raise _Retry(f"connection failed ({e.reason})") from None
        except (http.client.HTTPException, ConnectionError, OSError) as e:
            raise _Retry(f"connection lost ({type(e).__name__})") from None
        try:
            value = json.loads(raw)
        except ValueError:
            raise _Retry("malformed JSON in the answer") from None
        if not isinstance(value, dict):
            raise _Retry("malformed answer (not a JSON object)")
        return value

    def call(
        self, method: str, url: str, body: dict[str, Any] | None = None,
        check: Callable[[dict[str, Any]], None] | None = None, cached: bool = True, retries: int | None = None,
    ) -> dict[str, Any]:
        """The JSON answer to one request: from the cache, else from the server (retried), then cached.
        `check` raises KeyError/TypeError/ValueError on an answer of the wrong shape (retried like malformed JSON)."""
        key = ResponseCache.key(self.base_url, url, body or {}) if self.cache and cached else None
        if key is not None and self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                with self._count_lock:
                    self.cache_hits += 1
                return hit
        last = ""
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                value = self._once(method, url, body)
                if check is not None:
                    try:
                        check(value)
                    except (KeyError, TypeError, ValueError, IndexError) as e:
                        raise _Retry(f"answer of the wrong shape ({type(e).__name__}: {e})") from None
                    except AdaptlabError as e:  # an answer that is well formed but can never do: not retried
                        raise AdaptlabError(f"served model at {self.base_url}: {e}") from None
                if key is not None and self.cache is not None:
                    self.cache.put(key, value)
                return value
            except _Retry as e:
                last = str(e)
                if attempt == retries:
                    break
                wait = e.wait if e.wait is not None else self.backoff * 2**attempt * (1 + random.random() / 4)
                time.sleep(min(wait, self.max_wait))
        raise AdaptlabError(
            f"served model at {self.base_url}: no valid answer from {url} after {retries + 1} tries "
            f"(last: {last})" + ("; what was already answered is cached, so rerunning resumes" if key else "")
        )


def _server_message(e: urllib.error.HTTPError) -> str:
    try:
        text = e.read(2000).decode("utf-8", "replace")
        message = json.loads(text).get("error", text)
        if isinstance(message, dict):
            message = message.get("message", "")
    except (ValueError, AttributeError, OSError):
        message = ""
    message = " ".join(str(message).split())
    return f": {message[:200]}" if message else ""


def check_completion(value: dict[str, Any]) -> None:
    choice = value["choices"][0]
    if not isinstance(choice["text"], str):
        raise TypeError("choices[0].text is not a string")


def check_logprobs(value: dict[str, Any]) -> None:
    check_completion(value)
    lp = value["choices"][0].get("logprobs")
    if lp is None:  # a well-formed completion without them: the server ignores `logprobs`, retrying cannot help
        raise AdaptlabError("its completions carry no `logprobs` (the server ignores `echo`/`logprobs`), so it cannot "
                            "score likelihoods; evaluate it with protocol=generative-mc")
    n = len(lp["tokens"])
    if len(lp["token_logprobs"]) != n or len(lp["text_offset"]) != n:
        raise ValueError("logprobs.tokens, token_logprobs and text_offset differ in length")


def check_chat(value: dict[str, Any]) -> None:
    if not isinstance(value["choices"][0]["message"]["content"], str):
        raise TypeError("choices[0].message.content is not a string")


def pool_map(fn: Callable[[Any], Any], items: Sequence[Any], concurrency: int,
             done: Callable[[int], None] | None = None) -> list[Any]:
    """`fn` over `items` with at most `concurrency` calls in flight; results in order. `done(i)` is called as each
    item finishes (in the caller's thread). On a failure the calls not yet started are cancelled."""
    if concurrency == 1 or len(items) <= 1:
        out = []
        for i, item in enumerate(items):
            out.append(fn(item))
            if done:
                done(i)
        return out
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(fn, item) for item in items]
        results: list[Any] = []
        try:
            for i, future in enumerate(futures):
                results.append(future.result())
                if done:
                    done(i)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return results
