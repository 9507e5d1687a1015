"""`ServedModel`: a model behind any OpenAI-compatible HTTP server (vLLM, SGLang, llama.cpp's server, a hosted API).

Named like every model, by a spec: `openai:BASE_URL` and, after `#`, the served model's name and options:

    openai:http://127.0.0.1:8011/v1#smollm2
    openai:http://127.0.0.1:8011/v1#model=smollm2,tokenizer=smollm2,concurrency=8,prices=0.15/0.075/0.6

An API key is read from the environment variable named by `key_env` (default `OPENAI_API_KEY`) at each request;
it is never stored on the object, in a name, a cache key, a log line or an error message.

Scoring (protocol `likelihood`, the same contract as the in-process backend): each choice is the continuation
`render_prefix(context) + prompt + " " + choice`, sent to `/v1/completions` with `echo`, `logprobs: 1` and
`max_tokens: 1` (lm-evaluation-harness's `local-completions` request; `max_tokens: 0` means "no limit" on
llama.cpp's server); the choice's tokens are those whose character offset (`text_offset`) falls at or after the
start of `" " + choice`, and its score is the sum of their log-probabilities. A token that straddles that
boundary (the server's tokenizer merged the space into the prompt's last token) is counted with the choice, and
said in one warning line per call; so is a token count that differs from the local tokenizer's, when one is given.
That echo route shares nothing between requests: vLLM skips its prefix cache for prompt log-probabilities, so ICL
scoring pays the full context for every choice. Where the server supports it (vLLM: `/tokenize` and
`logprob_token_ids`, detected and compared with the echo route once), `scoring=auto` (the default) reads each choice
token's log-probability as a next-token log-probability instead, one request per question with every choice's
prompts, so the shared context comes from the prefix cache (`adaptlab.models.served_next_token`); `scoring=echo`
or `scoring=next-token` picks a route.

Before scoring, the server is checked once (`self_check`, see `adaptlab.models.served_check`): its prompt
log-probabilities must match its generation-time log-probabilities for the same tokens.

Servers without prompt log-probabilities (chat-only endpoints, most hosted APIs) are used with the declared
`generative-mc` protocol: `choose` shows the choices as lettered options and parses the letter of the reply. Its
results are accuracies of a different measurement, never log-likelihoods: `score` refuses under that protocol.

Requests go through `adaptlab.models.http`: at most `concurrency` at a time, with a timeout and retries with
exponential backoff, every answer kept in an on-disk response cache (`$ADAPTLAB_CACHE/served/responses.sqlite`)
the moment it arrives, so an interrupted run resumes without paying again for what was already scored or
generated. Costs come from the server's `usage` (prompt, cached and completion tokens), wall time, dollars from
`prices` (input/cached input/output per million tokens) and FLOPs only when `n_params` is given.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from adaptlab.costs import TokenPrices
from adaptlab.errors import AdaptlabError
from adaptlab.models import prompts
from adaptlab.models.base import (
    ChoiceScore,
    GenerationRequest,
    GenerationStats,
    LanguageModel,
    ScoreRequest,
    ScoringStats,
)
from adaptlab.models.http import (
    Client,
    HTTPStatusError,
    ResponseCache,
    Usage,
    check_chat,
    check_completion,
    check_logprobs,
    pool_map,
)
from adaptlab.models.served_check import check_prompt_logprobs, precision_note
from adaptlab.models.served_next_token import NextTokenScorer, check_answer, pick_route
from adaptlab.models.served_spec import SPEC_PREFIX, parse_spec
from adaptlab.paths import cache_dir

PROTOCOLS = ("likelihood", "generative-mc")
APIS = ("completions", "chat")
SCORINGS = ("auto", "echo", "next-token")

log = logging.getLogger("adaptlab.served")


class ServedModel(LanguageModel):
    """A model on an OpenAI-compatible server, behind the text-level `LanguageModel` interface (no weights here,
    so it cannot be fine-tuned; it can score, generate and write augmentations)."""

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        tokenizer: str | Any | None = None,
        key_env: str = "OPENAI_API_KEY",
        context_window: int | None = None,
        n_params: int = 0,
        concurrency: int = 4,
        timeout: float = 120.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_wait: float = 60.0,
        prices: TokenPrices | None = None,
        protocol: str = "likelihood",
        api: str = "completions",
        cache: bool | Path = True,
        check: bool = True,
        chat: bool | None = None,
        scoring: str = "auto",
    ):
        if protocol not in PROTOCOLS:
            raise AdaptlabError(f"served model {base_url}: unknown protocol {protocol!r} ({', '.join(PROTOCOLS)})")
        if scoring not in SCORINGS:
            raise AdaptlabError(f"served model {base_url}: unknown scoring {scoring!r} ({', '.join(SCORINGS)})")
        if api not in APIS:
            raise AdaptlabError(f"served model {base_url}: unknown api {api!r} ({', '.join(APIS)})")
        if api == "chat" and protocol == "likelihood":
            raise AdaptlabError(
                f"served model {base_url}: a chat endpoint returns no prompt log-probabilities, so it cannot score "
                "likelihoods; declare protocol=generative-mc (a different measurement, reported under its own name)"
            )
        window_given = 1 if context_window is None else context_window
        for option, value, low, above in (("concurrency", concurrency, 1, False), ("timeout", timeout, 0, True),
                                          ("retries", retries, 0, False), ("backoff", backoff, 0, False),
                                          ("max_wait", max_wait, 0, False), ("n_params", n_params, 0, False),
                                          ("context_window", window_given, 1, False)):
            if not (math.isfinite(value) and (value > low if above else value >= low)):
                raise AdaptlabError(f"served model {base_url}: option {option} must be {'>' if above else '>='} "
                                    f"{low}, got {value}")
        self.base_url = base_url.rstrip("/")
        self.root_url = self.base_url.removesuffix("/v1")
        response_cache = None
        if cache:
            response_cache = ResponseCache(
                cache if isinstance(cache, Path) else cache_dir() / "served" / "responses.sqlite"
            )
        self.client = Client(self.base_url, key_env=key_env, timeout=timeout, retries=retries, backoff=backoff,
                             max_wait=max_wait, cache=response_cache)
        self.concurrency = concurrency
        self.prices = prices
        self.protocol = protocol
        self.api = api
        self.n_params = n_params
        self.check = check
        self._checked = False
        self.scoring = scoring
        self._route: str | None = None
        self._check_lock = threading.Lock()
        self._listing = ""  # why /models listed nothing, when it did not answer as an OpenAI-compatible server does
        listed = self._models() if model is None or context_window is None else {}
        if model is None:
            if len(listed) != 1:
                names = ", ".join(listed) or "none"
                raise AdaptlabError(f"served model {self.base_url}: name the model to use (#MODEL); served: "
                                    f"{names}{self._listing}")
            model = next(iter(listed))
        if listed and model not in listed:
            raise AdaptlabError(f"served model {self.base_url}: it serves no model {model!r} (served: "
                                f"{', '.join(listed)})")
        self.model = model
        self.name = f"{SPEC_PREFIX}{self.base_url}#{model}"
        self.meta: dict[str, Any] = {}
        if isinstance(tokenizer, str):
            from adaptlab.models.hf_load import load_tokenizer  # imports torch and transformers

            tokenizer, self.meta = load_tokenizer(tokenizer)
        self.tokenizer = tokenizer
        self.chat = bool(chat if chat is not None else api == "chat" or getattr(self.tokenizer, "chat_template", None))
        if self.chat and api == "completions" and self.tokenizer is None:
            raise AdaptlabError(f"served model {self.name}: chat prompts through /v1/completions need the model's "
                                "chat template: give tokenizer=ALIAS_OR_FOLDER")
        window = context_window or _window_of(listed.get(model, {}))
        if window is None and self.tokenizer is not None:
            limit = getattr(self.tokenizer, "model_max_length", None)
            window = int(limit) if isinstance(limit, int) and 0 < limit < 10**7 else None
        if window is None:
            raise AdaptlabError(f"served model {self.name}: the server does not say its context window; give "
                                f"context_window=N{self._listing}")
        self.context_window = int(window)
        self._token_counts: dict[str, int] = {}
        self._tokenize_route: str | None = None

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_spec(cls, spec: str) -> ServedModel:
        url, options = parse_spec(spec)
        return cls(url, **options)

    def _models(self) -> dict[str, dict[str, Any]]:
        try:  # one retry only: the listing is skipped by giving model= and context_window=
            value = self.client.call("GET", f"{self.base_url}/models", cached=False, retries=1)
        except HTTPStatusError as e:
            if e.status in (401, 403):  # the key: said as it is
                raise
            self._listing = (f" (GET {self.base_url}/models answered {e.status}: if this is an OpenAI-compatible "
                             "server, model=NAME and context_window=N skip that request; else check the URL, which "
                             "ends in /v1)")
            return {}
        except AdaptlabError as e:  # unreachable, or a server error twice
            raise AdaptlabError(f"{e} (model=NAME and context_window=N skip this request)") from None
        data = value.get("data")
        if not isinstance(data, list):
            self._listing = (f" (GET {self.base_url}/models answered without a `data` list: not an "
                             "OpenAI-compatible model listing)")
            return {}
        return {str(m["id"]): m for m in data if isinstance(m, dict) and "id" in m}

    # ----------------------------------------------------------------- text

    def render_prefix(self, context: str, *, instruction: str | None = None) -> str:
        chat = self._chat_template if self.chat and self.tokenizer is not None else None
        return prompts.render_prefix(context, instruction=instruction, chat=chat)

    def _chat_template(self, user: str) -> str:
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
        )

    def count_tokens(self, text: str) -> int:
        """With a local tokenizer, its count; else the server's (`/tokenize` as vLLM and SGLang serve it, else the
        prompt tokens of a one-token completion, which may include a BOS token)."""
        if self.tokenizer is not None:
            return len(self.tokenizer(text, add_special_tokens=False).input_ids)
        if text not in self._token_counts:
            self._token_counts[text] = self._server_count(text)
        return self._token_counts[text]

    def _server_count(self, text: str) -> int:
        if self._tokenize_route != "completions":
            try:
                value = self.client.call(
                    "POST", f"{self.root_url}/tokenize",
                    {"model": self.model, "prompt": text, "add_special_tokens": False},
                    check=lambda v: int(v.get("count", len(v["tokens"]))),
                )
                self._tokenize_route = "tokenize"
                return int(value.get("count", len(value["tokens"])))
            except HTTPStatusError:
                if self._tokenize_route == "tokenize":
                    raise
                self._tokenize_route = "completions"
        value = self._completion({"prompt": text or " ", "max_tokens": 1, "temperature": 0})
        return int(value["usage"]["prompt_tokens"])

    # ----------------------------------------------------------------- requests

    def _completion(self, body: dict[str, Any], check: Callable[[dict[str, Any]], None] = check_completion
                    ) -> dict[str, Any]:
        return self.client.call("POST", f"{self.base_url}/completions", {"model": self.model, **body}, check=check)

    def _chat_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.call("POST", f"{self.base_url}/chat/completions", {"model": self.model, **body},
                                check=check_chat)

    def _pool_map(self, fn: Callable[[Any], Any], items: Sequence[Any],
                  done: Callable[[int], None] | None = None) -> list[Any]:
        return pool_map(fn, items, self.concurrency, done)

    def _cost(self, usage: Usage, stats: ScoringStats | GenerationStats) -> None:
        stats.tokens_prefilled += usage.prompt
        stats.tokens_cached += usage.cached
        if self.prices is not None:
            stats.dollars += self.prices.dollars(usage.prompt, usage.cached, usage.completion)
        if self.n_params:
            stats.flops += 2.0 * self.n_params * (usage.prompt + usage.completion)

    # ----------------------------------------------------------------- the server check

    def self_check(self) -> dict[str, Any]:
        """Compare the server's prompt log-probabilities with its generation-time log-probabilities for the same
        tokens; raise a one-line AdaptlabError naming the server when they disagree. Returns what was compared."""
        checked = check_prompt_logprobs(self._completion, self.name)
        note = precision_note(checked, self.name)
        if note:
            log.warning("%s", note)
        return checked

    def _ensure_checked(self) -> None:
        with self._check_lock:
            if self.check and not self._checked:
                self.self_check()
            self._checked = True

    # ----------------------------------------------------------------- scoring

    def score(
        self, requests: Sequence[ScoreRequest], *, progress: Callable[[int], None] | None = None
    ) -> tuple[list[list[ChoiceScore]], ScoringStats]:
        if self.protocol != "likelihood":
            raise AdaptlabError(
                f"served model {self.name} is declared protocol={self.protocol}: it gives no log-likelihoods to "
                "score; its results come from `choose` under their own metric name"
            )
        self._ensure_checked()
        start = time.perf_counter()
        stats = ScoringStats(requests=len(requests), choices=sum(len(r.choices) for r in requests))
        rows: dict[tuple[str, int], int] = {}
        index: list[list[int]] = []
        prefixes: dict[str, str] = {}
        for i, req in enumerate(requests):
            if not req.prompt.strip():
                raise AdaptlabError(f"score request {i}: the prompt is empty")
            if req.context not in prefixes:
                prefixes[req.context] = self.render_prefix(req.context)
            head = prefixes[req.context] + req.prompt
            ids = []
            for choice in req.choices:
                if not choice.strip():
                    raise AdaptlabError(f"score request {i}: a choice is empty")
                ids.append(rows.setdefault((head + " " + choice, len(head)), len(rows)))
            index.append(ids)
        pending = [len(set(ids)) for ids in index]
        owners: dict[int, list[int]] = {}
        for i, ids in enumerate(index):
            for r in set(ids):
                owners.setdefault(r, []).append(i)

        def done(r: int) -> None:
            finished = 0
            for i in owners.get(r, []):
                pending[i] -= 1
                finished += pending[i] == 0
            if progress and finished:
                progress(finished)

        if self.scoring_route() == "echo":
            answers = self._pool_map(self._score_text, list(rows), done)
            results = [(total, n, straddle) for total, n, _, straddle in answers]
            usage = sum((u for _, _, u, _ in answers), Usage())
        else:
            results, usage = self._next_token().score(list(rows), done)
        straddled = sum(straddle for _, _, straddle in results)
        self._cost(usage, stats)
        if straddled:
            log.warning("warning: %s: on %d of %d choices the server's tokenizer merged the space before the choice "
                        "into the prompt's last token; that token was counted with the choice", self.name, straddled,
                        len(rows))
        out = [
            [ChoiceScore(logprob=results[r][0], n_tokens=results[r][1], n_chars=len(choice))
             for r, choice in zip(ids, req.choices, strict=True)]
            for req, ids in zip(requests, index, strict=True)
        ]
        self._compare_tokenizer(requests, prefixes, out)
        stats.seconds = time.perf_counter() - start
        return out, stats

    def scoring_route(self) -> str:
        """`echo` or `next-token`: the route scoring takes (`scoring=auto`: next-token where the server gives
        next-token log-probabilities for named token ids and they agree with its echoed prompt's, else echo)."""
        with self._check_lock:
            if self._route is None:
                self._route = pick_route(self.scoring, self._next_token(), self._score_text, self.check, self.name)
            return self._route

    def _next_token(self) -> NextTokenScorer:
        return NextTokenScorer(self._server_ids, lambda body: self._completion(body, check=check_answer),
                               self._pool_map, self.name)

    def _server_ids(self, text: str) -> list[int]:
        """The server's token ids of `text` as its completions endpoint tokenizes a prompt (special tokens added)."""
        value = self.client.call("POST", f"{self.root_url}/tokenize",
                                 {"model": self.model, "prompt": text, "add_special_tokens": True},
                                 check=lambda v: [int(t) for t in v["tokens"]])
        return [int(t) for t in value["tokens"]]

    def _score_text(self, row: tuple[str, int]) -> tuple[float, int, Usage, bool]:
        """(sum of the choice tokens' log-probabilities, their number, usage, whether a token straddled the start)
        for one text whose choice starts at character `start` (the space before the choice)."""
        text, start = row
        value = self._completion({"prompt": text, "max_tokens": 1, "temperature": 0, "logprobs": 1, "echo": True},
                                 check=check_logprobs)
        lp = value["choices"][0]["logprobs"]
        offsets = [int(o) for o in lp["text_offset"]]
        total, n, straddle = 0.0, 0, False
        for k, (token, logprob, offset) in enumerate(zip(lp["tokens"], lp["token_logprobs"], offsets, strict=True)):
            if offset >= len(text):
                break  # the generated token
            end = offsets[k + 1] if k + 1 < len(offsets) else offset + len(token)
            if offset >= start or end > start:
                if logprob is None:
                    raise AdaptlabError(f"served model {self.name}: no log-probability for a prompt token: the "
                                        "server does not return prompt log-probabilities with echo")
                straddle |= offset < start
                total += float(logprob)
                n += 1
        if n == 0:
            raise AdaptlabError(f"served model {self.name}: no token of the choice found by character offset; its "
                                "text_offset values do not index the prompt's characters")
        return total, n, Usage.of(value.get("usage")), straddle

    def _compare_tokenizer(self, requests: Sequence[ScoreRequest], prefixes: dict[str, str],
                           out: list[list[ChoiceScore]]) -> None:
        """With a local tokenizer: say in one line when the server counted a different number of choice tokens."""
        if self.tokenizer is None:
            return
        from adaptlab.models.scoring_plan import choice_tokens

        def encode(text: str) -> list[int]:
            return list(self.tokenizer(text, add_special_tokens=False).input_ids)

        differ = total = 0
        for req, scores in zip(requests, out, strict=True):
            tail = (prefixes[req.context] + req.prompt)[-200:]  # the choice's tokens depend on what is just before
            q_ids = encode(tail)
            for choice, score in zip(req.choices, scores, strict=True):
                total += 1
                differ += len(choice_tokens(encode, tail, q_ids, choice)) != score.n_tokens
        if differ:
            log.warning("warning: %s tokenizes %d of %d choices into a different number of tokens than the local "
                        "tokenizer; per-token scores use the server's counts", self.name, differ, total)

    # ----------------------------------------------------------------- generative multiple choice

    def choose(
        self, requests: Sequence[ScoreRequest], *, progress: Callable[[int], None] | None = None
    ) -> tuple[list[int | None], ScoringStats]:
        """The `generative-mc` protocol: each question's choices as lettered options after its context, the
        model's greedy reply parsed for a letter; None where the reply names no option."""
        start = time.perf_counter()
        stats = ScoringStats(requests=len(requests), choices=sum(len(r.choices) for r in requests))

        def one(req: ScoreRequest) -> tuple[int | None, Usage]:
            question = prompts.multiple_choice_prompt(req.prompt, req.choices)
            reply, usage = self._generate_one((req.context, "", question, prompts.MC_REPLY_TOKENS, 0.0, 0, ()))
            return prompts.parse_letter(reply, len(req.choices)), usage

        results = self._pool_map(one, list(requests), (lambda _: progress(1)) if progress else None)
        usage = sum((u for _, u in results), Usage())
        self._cost(usage, stats)
        stats.seconds = time.perf_counter() - start
        return [r for r, _ in results], stats

    # ----------------------------------------------------------------- generation

    def generate_with_stats(
        self,
        prompts_: Sequence[str],
        *,
        context: str = "",
        instruction: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = ("\n\n",),
    ) -> tuple[list[str], GenerationStats]:
        """Each prompt as its own request (`render_prefix(context, instruction) + prompt` to /v1/completions, or the
        user turn to /v1/chat/completions), at most `concurrency` at a time; the output is cut before the first
        stop string."""
        return self.generate_requests([GenerationRequest(context, p, instruction) for p in prompts_],
                                      max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, stop=stop)

    def generate_requests(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = ("\n\n",),
    ) -> tuple[list[str], GenerationStats]:
        """Every request as its own HTTP request, whatever its context, at most `concurrency` at a time (a server
        shares nothing between requests here, so grouping them by context would only serialise them)."""
        if temperature < 0:
            raise AdaptlabError(f"temperature must be >= 0, got {temperature}")
        start = time.perf_counter()
        stats = GenerationStats(prompts=len(requests))
        jobs = [(r.context, r.prompt, r.instruction, max_new_tokens, temperature, seed, tuple(stop)) for r in requests]
        results = self._pool_map(self._generate_one, jobs)
        usage = sum((u for _, u in results), Usage())
        self._cost(usage, stats)
        stats.tokens_generated = usage.completion
        stats.seconds = time.perf_counter() - start
        return [t for t, _ in results], stats

    def _generate_one(self, job: tuple[str, str, str | None, int, float, int, tuple[str, ...]]) -> tuple[str, Usage]:
        """One request. Through a chat endpoint the prompt cannot start the reply: the user turn is sent, and the
        prompt is removed from the start of the reply if the model wrote it."""
        context, prompt, instruction, max_new_tokens, temperature, seed, stop = job
        sampling: dict[str, Any] = {"max_tokens": max_new_tokens, "temperature": temperature, "seed": seed}
        if stop:
            sampling["stop"] = list(stop)[:4]  # the OpenAI API takes at most four
        if self.api == "chat":
            user = prompts.user_turn(context, instruction)
            value = self._chat_completion({"messages": [{"role": "user", "content": user}], **sampling})
            text = value["choices"][0]["message"]["content"]
            text = text[len(prompt):] if prompt and text.startswith(prompt) else text
        else:
            value = self._completion({"prompt": self.render_prefix(context, instruction=instruction) + prompt,
                                      **sampling})
            text = value["choices"][0]["text"]
        cut = min((text.find(s) for s in stop if s and s in text), default=len(text))
        return text[:cut], Usage.of(value.get("usage"))


def _window_of(entry: dict[str, Any]) -> int | None:
    for key in ("max_model_len", "context_window", "context_length", "max_context_length"):
        value = entry.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None

