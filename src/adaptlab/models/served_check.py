"""The served model's self-check: are its prompt log-probabilities (what scoring reads) the ones it generates with?

A short greedy generation with its generation-time log-probabilities, then the same text echoed as a prompt. A
correct server gives the same numbers both ways; one that does not (llama-cpp-python 0.3.36 gives -8.99 for a token
it generated with -0.03) is refused with one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adaptlab.errors import AdaptlabError
from adaptlab.models.http import check_logprobs

PROBES = ("The capital of France is", "Once upon a time, there was", "1, 2, 3, 4,")
CHECK_TOKENS = 8
# The self-check's tolerance per token, in nats: |prompt logprob - generation logprob| <= ABS + REL·|logprob|.
# Wide enough for batch-dependent numerics and reduced precision on a correct server (differences of 1e-3 to 1e-2),
# far below the errors of a wrong one (llama-cpp-python 0.3.36: 9 nats). Every probe is compared: a probe whose
# continuation repeats one token ("a a a a") hides an off-by-one error, the others show it.
CHECK_ABS, CHECK_REL = 0.05, 0.05
# Differences above this pass the check (a correct server in reduced precision) but can move answers: a float32
# server agrees to ~1e-5 nats; vLLM on CPU in bfloat16 passed with 0.067 and flipped 1 of 8 ICL answers.
PRECISE_NATS = 1e-3

Completion = Callable[..., dict[str, Any]]  # (request body, check=...) -> the server's answer to /v1/completions


def check_prompt_logprobs(completion: Completion, name: str) -> dict[str, Any]:
    """Compare the server's prompt log-probabilities with its generation-time log-probabilities for the same
    tokens, through `completion`; raise a one-line AdaptlabError naming the served model `name` when they disagree.
    Returns what was compared."""
    compared: list[tuple[str, float, float]] = []
    for probe in PROBES:
        # Generated WITHOUT echo: llama-cpp-python 0.3.36 shifts every log-probability by one position
        # whenever echo is on, the generated tokens' too, so only a plain generation gives the reference.
        gen = completion({"prompt": probe, "max_tokens": CHECK_TOKENS, "temperature": 0, "logprobs": 1, "seed": 0},
                         check=check_logprobs)
        text = gen["choices"][0]["text"]
        glp = gen["choices"][0]["logprobs"]
        tokens, values = list(glp["tokens"]), list(glp["token_logprobs"])
        if len(tokens) > CHECK_TOKENS:  # a server that echoed anyway: keep the generated tokens
            tokens, values = tokens[-CHECK_TOKENS:], values[-CHECK_TOKENS:]
        if not text or not tokens or not text.startswith("".join(tokens)):
            continue
        echo = completion({"prompt": probe + text, "max_tokens": 1, "temperature": 0, "logprobs": 1, "echo": True},
                          check=check_logprobs)
        elp = echo["choices"][0]["logprobs"]
        at = {int(o): (t, v) for t, v, o in zip(elp["tokens"], elp["token_logprobs"], elp["text_offset"],
                                                strict=True)}
        # The echoed text must be cut into tokens at the probe's end and then exactly as generated: only then
        # does each generated token have the same history both ways.
        offset = len(probe)
        for token, gen_lp in zip(tokens, values, strict=True):
            if offset not in at or at[offset][0] != token or gen_lp is None or at[offset][1] is None:
                break  # tokenized differently from here on: later tokens have other histories
            compared.append((token, float(at[offset][1]), float(gen_lp)))
            offset += len(token)
    if not compared:
        raise AdaptlabError(
            f"served model {name}: could not check its prompt log-probabilities (no generated tokens matched the "
            "echoed prompt's tokens); refusing to score with it (pass check=false to trust it)"
        )
    for token, prompt_lp, gen_lp in compared:
        if abs(prompt_lp - gen_lp) > CHECK_ABS + CHECK_REL * abs(gen_lp):
            raise AdaptlabError(
                f"served model {name}: its prompt log-probabilities disagree with its own generation-time "
                f"log-probabilities (token {token!r}: {prompt_lp:.3f} as prompt, {gen_lp:.3f} when generated); "
                "refusing to score with it (generation through it still works)"
            )
    return {"tokens": len(compared), "max_abs_diff": max(abs(a - b) for _, a, b in compared)}


def precision_note(checked: dict[str, Any], name: str) -> str | None:
    """A warning when the self-check passed with differences that can move answers (reduced precision)."""
    diff = float(checked["max_abs_diff"])
    if diff <= PRECISE_NATS:
        return None
    return (f"warning: served model {name}: its log-probabilities agree with themselves only to {diff:.3g} nats "
            "per token (reduced precision, e.g. bfloat16): a question whose choices score closer than that may "
            "get another answer than in-process; serve in float32 (vLLM: --dtype float32) to compare like with like")

