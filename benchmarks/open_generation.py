"""Open-question answering speed: N open questions that share one ICL context, answered through adaptlab's
evaluation path (`evaluate_open.answer_questions`: `generate_requests` prefills the shared context once and decodes
the questions as batches) against generating each question alone with its full prompt (one `generate_with_stats`
call per question, the context prefilled every time). Greedy, stopped at a newline: the texts must be identical.
Prints the time of each, the ratio, exact match, and the load average.

    python benchmarks/open_generation.py                        # the organism, simple-reversals, 20 questions
    python benchmarks/open_generation.py --model smollm2 --facts 6
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from adaptlab.context import OPEN_ANSWER_TOKENS, build_context
from adaptlab.data.records import Question
from adaptlab.data.registry import check_params, generator
from adaptlab.evaluate_open import OPEN_STOP, answer_questions
from adaptlab.models import load_model
from adaptlab.models.prompts import question_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="organism")
    parser.add_argument("--facts", type=int, default=10)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    lm = load_model(args.model, device="cpu")
    world = generator("simple-reversals").generate(
        0, **check_params("simple-reversals", {"n_facts": args.facts, "articles_per_fact": 1}))
    questions = [Question(id=q.id, prompt=q.prompt, answers=[q.choices[q.answer or 0]], split=q.split)
                 for q in world.questions[: args.questions]]
    context = build_context(world.documents)
    contexts = [context] * len(questions)
    print(f"{args.model}: {len(questions)} open questions after one context of {lm.count_tokens(context)} tokens, "
          f"{OPEN_ANSWER_TOKENS} new tokens at most, {args.threads} thread(s); "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)

    answer_questions(lm, questions[:1], contexts[:1])  # warm up
    start = time.perf_counter()
    shared = answer_questions(lm, questions, contexts)
    shared_s = time.perf_counter() - start

    start = time.perf_counter()
    alone = []
    for q in questions:
        (text,), _ = lm.generate_with_stats([question_text(q)], context=context, instruction=None,
                                            max_new_tokens=OPEN_ANSWER_TOKENS, stop=OPEN_STOP)
        alone.append(text.strip())
    alone_s = time.perf_counter() - start

    texts = [a.text for a in shared.answers]
    same = sum(a == b for a, b in zip(texts, alone, strict=True))
    exact = sum(a.exact_match for a in shared.answers) / len(questions)
    print(f"shared prefix (adaptlab): {shared_s:.2f} s ({shared.generation.tokens_prefilled} tokens prefilled, "
          f"{shared.generation.tokens_reused} reused, {shared.generation.tokens_generated} generated)")
    print(f"each question alone:      {alone_s:.2f} s")
    print(f"ratio alone / shared: {alone_s / shared_s:.2f}×; identical texts {same}/{len(questions)}; "
          f"exact match {exact:.2f}; load average {os.getloadavg()[0]:.2f}")
    for q, a in list(zip(questions, shared.answers, strict=True))[:3]:
        print(f"  {q.prompt!r} → {a.text!r} (reference {q.references[0]!r})")
    assert texts == alone, [(a, b) for a, b in zip(texts, alone, strict=True) if a != b]


if __name__ == "__main__":
    main()
