"""Shared-prefix scoring vs naive (lm-evaluation-harness style) scoring of ICL questions: a side-by-side ratio.

Many questions with multi-token choices share one long context (the ICL setting). Shared-prefix scoring runs the
context once; naive scoring runs context + question + choice in full for every choice. Prints both timings, the
token and FLOP counts, the speedup and the largest score difference. Absolute times depend on the machine; only
the ratio means anything. Naive scoring can be run on the first N questions only (`--naive-questions`) and its
time scaled up per question, because it is slow on a CPU for a real model.

    python benchmarks/icl_scoring.py --model tiny --questions 50 --context-tokens 1000
    python benchmarks/icl_scoring.py --model smollm2 --questions 50 --naive-questions 5
"""

from __future__ import annotations

import argparse
import os

from adaptlab.data.lexicon import Lexicon
from adaptlab.models import ScoreRequest, load_model

RELATIONS = ("heavier", "lighter", "faster", "slower", "brighter", "darker")


def build_requests(model, n_questions: int, n_choices: int, context_tokens: int) -> list[ScoreRequest]:
    lex, facts = Lexicon(7), []
    while model.count_tokens(model.render_prefix(" ".join(facts))) < context_tokens:
        a, b = lex.take(2)
        facts.append(f"The {a} is {RELATIONS[len(facts) % len(RELATIONS)]} than the {b}.")
    context = " ".join(facts)
    requests = []
    for _ in range(n_questions):
        subject, *others = lex.take(1 + n_choices)
        choices = tuple(
            f"{RELATIONS[j % len(RELATIONS)]} than the {other}" + " and more" * j for j, other in enumerate(others)
        )
        requests.append(ScoreRequest(context, f"The {subject} is", choices))
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--choices", type=int, default=4)
    parser.add_argument("--context-tokens", type=int, default=1000)
    parser.add_argument("--naive-questions", type=int, default=None, help="naive-score only the first N questions")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--padded", action="store_true", help="force the padded route instead of packing")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    model = load_model(args.model, device=args.device)
    if args.padded:
        model.packing = False
    requests = build_requests(model, args.questions, args.choices, args.context_tokens)
    n_naive = min(args.naive_questions or args.questions, args.questions)
    model.score(requests[:1])  # warm-up
    shared, s = model.score(requests)
    naive, n = model.score_naive(requests[:n_naive])
    naive_seconds = n.seconds * args.questions / n_naive
    pairs = zip(shared[:n_naive], naive, strict=True)
    diff = max(abs(a.logprob - b.logprob) for x, y in pairs for a, b in zip(x, y, strict=True))

    prefix = model.count_tokens(model.render_prefix(requests[0].context))
    route = "packed" if getattr(model, "packing", False) else "padded"
    shape = f"{args.questions} questions × {args.choices} choices, {prefix}-token prefix"
    print(f"model {model.name} on {model.device}: {shape}")
    print(f"{'':24}{'seconds':>10}{'prefilled':>12}{'reused':>12}{'GFLOP':>10}{'peak MiB':>10}")
    print(
        f"{'shared prefix (' + route + ')':24}{s.seconds:10.2f}{s.tokens_prefilled:12d}{s.tokens_reused:12d}"
        f"{s.flops / 1e9:10.1f}{s.peak_memory_bytes / 2**20:10.0f}"
    )
    scale = args.questions / n_naive
    label = "naive" if n_naive == args.questions else f"naive (×{scale:.0f} of {n_naive})"
    print(
        f"{label:24}{naive_seconds:10.2f}{round(n.tokens_prefilled * scale):12d}{0:12d}"
        f"{n.flops * scale / 1e9:10.1f}{n.peak_memory_bytes / 2**20:10.0f}"
    )
    print(f"speedup {naive_seconds / s.seconds:.1f}×, max |Δ logprob| over {n_naive} questions {diff:.2e}")


if __name__ == "__main__":
    main()
