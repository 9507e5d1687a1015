"""In-process vs served scoring of the same questions on the same model, side by side in one run, and generation
throughput through the server at concurrency 1 and 4. Prints seconds, tokens sent, agreement and the load average.

The server is adaptlab's reference OpenAI-compatible server (`python -m adaptlab.serve.openai_server`) in its own
process, serving the same model: it computes exact prompt log-probabilities with one full forward per request and
no prefix cache, which is what vLLM does when asked for prompt log-probabilities (prefix caching is bypassed). The
in-process backend runs the shared ICL context once and reuses its key/value cache for every question.

    python benchmarks/served_scoring.py                        # tiny model, 40 questions, 1000-token context
    python benchmarks/served_scoring.py --model smollm2 --questions 20 --context-tokens 1000
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adaptlab.context import build_context
from adaptlab.evaluate import predict
from adaptlab.models import ScoreRequest, load_model
from adaptlab.models.served import ServedModel
from icl_scoring import build_dataset


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.Popen([sys.executable, "-m", "adaptlab.serve.openai_server", "--model", model, "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("error: the reference server did not start") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("error: the reference server did not answer within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--choices", type=int, default=4)
    parser.add_argument("--context-tokens", type=int, default=1000)
    parser.add_argument("--gen-prompts", type=int, default=16)
    parser.add_argument("--gen-tokens", type=int, default=32)
    parser.add_argument("--score-concurrency", default="1,4", help="scoring through the server at these concurrencies")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    model = load_model(args.model, device="cpu", dtype="float32")
    dataset = build_dataset(model, args.questions, args.choices, args.context_tokens)
    context = build_context(dataset.documents)
    requests = [ScoreRequest(context, q.prompt, tuple(q.choices)) for q in dataset.questions]
    model.score(requests[:1])  # warm-up
    local, s_local = model.score(requests)

    port = free_port()
    server = start_server(args.model, port)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        rows = []
        remote = None
        for concurrency in (int(c) for c in args.score_concurrency.split(",")):
            # The same tokenizer (chat template) as in-process, so both score the same text.
            served = ServedModel(url, args.model, tokenizer=args.model, cache=False, concurrency=concurrency)
            served.self_check()
            remote, s_remote = served.score(requests)
            rows.append((f"served, concurrency {concurrency}", s_remote))
        assert remote is not None
        same = sum(predict(a) == predict(b) for a, b in zip(local, remote, strict=True)) / len(requests)
        diff = max(abs(x.logprob - y.logprob) for a, b in zip(local, remote, strict=True)
                   for x, y in zip(a, b, strict=True))

        prompts = [f"The {q.prompt.split()[1]} is" for q in dataset.questions[: args.gen_prompts]]
        gen = []
        _, g = model.generate_with_stats(prompts, max_new_tokens=args.gen_tokens, stop=())
        gen.append(("in-process (batched)", g.tokens_generated, g.seconds))
        for concurrency in (1, 4):
            served = ServedModel(url, args.model, tokenizer=args.model, cache=False, concurrency=concurrency)
            _, g = served.generate_with_stats(prompts, max_new_tokens=args.gen_tokens, stop=())
            gen.append((f"served, concurrency {concurrency}", g.tokens_generated, g.seconds))
    finally:
        server.terminate()
        server.wait(timeout=30)

    load = os.getloadavg()
    n_prefix = model.count_tokens(model.render_prefix(context))
    print(f"model {model.name} ({model.n_params / 1e6:.1f}M params) on cpu, {torch.get_num_threads()} threads; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{args.questions} questions × {args.choices} choices sharing a {n_prefix}-token context")
    print(f"{'scoring':30}{'seconds':>10}{'tokens sent':>14}{'reused':>10}{'ratio':>8}")
    print(f"{'in-process shared prefix':30}{s_local.seconds:10.2f}{s_local.tokens_prefilled:14d}"
          f"{s_local.tokens_reused:10d}{1:8.1f}")
    for label, st in rows:
        print(f"{label:30}{st.seconds:10.2f}{st.tokens_prefilled:14d}{st.tokens_reused:10d}"
              f"{st.seconds / s_local.seconds:8.1f}")
    print(f"agreement: same answer (per_char) on {same:.1%} of questions; max |Δ logprob| {diff:.2e}")
    print(f"{'generation':30}{'tokens':>10}{'seconds':>10}{'tokens/s':>10}")
    for label, tokens, seconds in gen:
        print(f"{label:30}{tokens:10d}{seconds:10.2f}{tokens / seconds:10.1f}")


if __name__ == "__main__":
    main()
