"""The served model's next-token scoring route: each choice token's log-probability read as the log-probability
of the next token after the token ids before it, so that the server's prefix cache serves the shared context.

Why a second route: vLLM (0.32.0) skips reading its prefix cache for every request that asks for prompt
log-probabilities (`SamplingParams.skip_reading_prefix_cache` defaults to true when `prompt_logprobs` is set, and
`echo` with `logprobs` sets it; the completions endpoint does not expose the switch, and `--enable-prefix-caching`
does not change it), so the echo route recomputes the whole context for every choice. A generation-time
log-probability does read the cache, and vLLM computes it from the raw logits (`logprobs_mode=raw_logprobs`, its
default), so it is the same number as the prompt log-probability of that token.

For each text `head + " " + choice` the server's own tokenizer (`/tokenize`) gives the token ids of the head and of
the whole text; the choice's tokens are those after their common prefix (a token that merges the space into the
head's last token is counted with the choice, as the echo route does). For each choice token at position p, the
request is the ids before p as the prompt with one generated token, `logprob_token_ids` naming the token at p (vLLM's
parameter; `return_tokens_as_token_ids` keys the answer by id). The prompts of one head go in one request (the
completions endpoint takes a list of prompts), with the union of their wanted ids; heads run `concurrency` at a
time. One prompt per request (`NextTokenScorer.batch = False`) measured 3.2x slower on vLLM on CPU; but with a list
of prompts vLLM 0.32.0's usage reports only the last prompt's cached tokens, so `tokens_cached` undercounts there.
A server that ignores these parameters answers without the wanted ids, which is said in one line (`auto` then keeps
the echo route).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from adaptlab.errors import AdaptlabError
from adaptlab.models.http import HTTPStatusError, Usage
from adaptlab.models.served_check import CHECK_ABS, CHECK_REL

log = logging.getLogger("adaptlab.served")

MAX_IDS = 128  # vLLM's MAX_LOGPROB_TOKEN_IDS: the most ids one request may name
MAX_PROMPTS = 64  # prompts per request

Prefix = tuple[int, ...]
Tokenize = Callable[[str], list[int]]
Complete = Callable[[dict[str, Any]], dict[str, Any]]
PoolMap = Callable[[Callable[[Any], Any], Sequence[Any], Callable[[int], None] | None], list[Any]]


class NextTokenError(AdaptlabError):
    """The server does not give next-token log-probabilities for named token ids."""


def check_answer(value: dict[str, Any]) -> None:
    """The shape of a next-token answer (retried when wrong, like malformed JSON)."""
    for choice in value["choices"]:
        int(choice["index"])
        if choice.get("logprobs") is not None and not isinstance(choice["logprobs"]["top_logprobs"], list):
            raise TypeError("logprobs.top_logprobs is not a list")


def positions(head_ids: Sequence[int], full_ids: Sequence[int]) -> tuple[list[tuple[Prefix, int]], bool]:
    """The (ids before, token id) of each choice token of a text whose head tokenizes to `head_ids` and whole to
    `full_ids`, and whether a token straddles the start of the choice."""
    j = 0
    while j < min(len(head_ids), len(full_ids)) and head_ids[j] == full_ids[j]:
        j += 1
    return [(tuple(full_ids[:p]), int(full_ids[p])) for p in range(j, len(full_ids))], j < len(head_ids)


def _chunks(prefixes: dict[Prefix, set[int]], batch: bool) -> list[list[Prefix]]:
    """The prefixes, shortest first, one per request, or (`batch`) cut into requests of at most MAX_PROMPTS prompts
    naming at most MAX_IDS ids together."""
    out: list[list[Prefix]] = []
    ids: set[int] = set()
    for prefix in sorted(prefixes, key=len):
        wanted = prefixes[prefix]
        if not out or not batch or len(out[-1]) >= MAX_PROMPTS or len(ids | wanted) > MAX_IDS:
            out.append([])
            ids = set()
        out[-1].append(prefix)
        ids |= wanted
    return out


class NextTokenScorer:
    """Scores (text, start of the choice) rows through `complete` (a /v1/completions call) with the server's
    `tokenize`, grouped by head, at most `concurrency` heads in flight through `pool_map`."""

    batch = True  # a head's prompts in one request (else one request each, shortest first: 3.2x slower measured)

    def __init__(self, tokenize: Tokenize, complete: Complete, pool_map: PoolMap, name: str):
        self.tokenize = tokenize
        self.complete = complete
        self.pool_map = pool_map
        self.name = name

    def score(self, rows: Sequence[tuple[str, int]], done: Callable[[int], None] | None = None
              ) -> tuple[list[tuple[float, int, bool]], Usage]:
        """Per row (sum of the choice tokens' log-probabilities, their number, whether a token straddled the
        start), and the usage of every request together. `done(row)` is called as each row's group finishes."""
        texts = list(dict.fromkeys([t[:s] for t, s in rows] + [t for t, _ in rows]))
        ids = dict(zip(texts, self.pool_map(self.tokenize, texts, None), strict=True))
        groups: dict[str, list[int]] = {}
        plans: list[tuple[list[tuple[Prefix, int]], bool]] = []
        for r, (text, start) in enumerate(rows):
            plan = positions(ids[text[:start]], ids[text])
            if not plan[0] or not plan[0][0][0]:
                raise AdaptlabError(f"served model {self.name}: no choice token after a prompt token in "
                                    f"{text[-60:]!r}: nothing to score")
            plans.append(plan)
            groups.setdefault(text[:start], []).append(r)
        jobs = list(groups.values())

        def run(members: list[int]) -> tuple[dict[tuple[Prefix, int], float], Usage]:
            wanted: dict[Prefix, set[int]] = {}
            for r in members:
                for prefix, token in plans[r][0]:
                    wanted.setdefault(prefix, set()).add(token)
            found: dict[tuple[Prefix, int], float] = {}
            usage = Usage()
            for chunk in _chunks(wanted, self.batch):
                got, used = self._request(chunk, wanted)
                found.update(got)
                usage = usage + used
            return found, usage

        def finished(g: int) -> None:
            if done:
                for r in jobs[g]:
                    done(r)

        results = self.pool_map(run, jobs, finished)
        found = {k: v for got, _ in results for k, v in got.items()}
        usage = sum((u for _, u in results), Usage())
        out = [(sum(found[p] for p in plan), len(plan), straddle) for plan, straddle in plans]
        return out, usage

    def _request(self, prefixes: list[Prefix], wanted: dict[Prefix, set[int]]
                 ) -> tuple[dict[tuple[Prefix, int], float], Usage]:
        targets = sorted(set().union(*(wanted[p] for p in prefixes)))
        value = self.complete({"prompt": [list(p) for p in prefixes], "max_tokens": 1, "temperature": 0,
                               "logprobs": 1, "logprob_token_ids": targets, "return_tokens_as_token_ids": True})
        by_index = {int(c["index"]): c for c in value["choices"]}
        found: dict[tuple[Prefix, int], float] = {}
        for k, prefix in enumerate(prefixes):
            lp = (by_index.get(k) or {}).get("logprobs") or {}
            top = (lp.get("top_logprobs") or [None])[0] or {}
            for token in wanted[prefix]:
                value_ = top.get(f"token_id:{token}")
                if value_ is None:
                    raise NextTokenError("its completions do not give the log-probability of a named next token")
                found[(prefix, token)] = float(value_)
        return found, Usage.of(value.get("usage"))


PROBE = ("The capital of France is", " Paris, a city on the Seine")


EchoScore = Callable[[tuple[str, int]], tuple[float, int, Any, bool]]


def pick_route(scoring: str, scorer: NextTokenScorer, echo: EchoScore, check: bool, name: str) -> str:
    """The route for `scoring` (auto, echo, next-token): `auto` takes next-token when the server gives next-token
    log-probabilities for named ids and (with `check`) they agree with its echoed prompt's on a probe, else echo,
    saying why in one line; an explicit `next-token` that cannot be honoured raises."""
    if scoring == "echo":
        return "echo"
    try:
        why = compare_with_echo(scorer, echo if check else None)
    except (NextTokenError, HTTPStatusError) as e:  # not vLLM: the parameters are ignored, or refused
        if scoring == "next-token":
            raise AdaptlabError(f"served model {name}: scoring=next-token needs next-token log-probabilities of "
                                f"named token ids (vLLM's logprob_token_ids) ({e}); score with scoring=echo") from None
        log.info("%s: scoring through the echoed prompt (%s)", name, e)
        return "echo"
    if why is None:
        return "next-token"
    if scoring == "next-token":
        raise AdaptlabError(f"served model {name}: {why}; score with scoring=echo")
    log.warning("warning: %s: %s; scoring through the echoed prompt", name, why)
    return "echo"


def compare_with_echo(scorer: NextTokenScorer, echo: EchoScore | None) -> str | None:
    """Score one probe both ways (only next-token without `echo`); None when the routes agree (same number of
    tokens, log-probabilities within the self-check's tolerance), else why not, in words. Raises NextTokenError
    when the server ignores the parameters."""
    row = (PROBE[0] + PROBE[1], len(PROBE[0]))
    [(total, n, _)], _ = scorer.score([row])
    if echo is None:
        return None
    want, n_want, _, _ = echo(row)
    if n != n_want or abs(total - want) > n * CHECK_ABS + CHECK_REL * abs(want):
        return (f"the next-token route gives {total:.4f} over {n} tokens where the echoed prompt gives {want:.4f} "
                f"over {n_want}")
    return None
