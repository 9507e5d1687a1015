"""Augmentation speed, side by side in one run: local augmentation prompts (one per document, each with its own
context) generated one request at a time, as adaptlab did before, against `generate_requests`, which prefills the
tokens the requests share (chat template, few-shot examples) once and decodes the rest as one batch. Same prompts,
greedy: prints the time of each, the ratio, how many outputs are identical, and the load average.

    python benchmarks/augmentation.py                       # SmolLM2, 16 reversal-curse documents, 48 new tokens
    python benchmarks/augmentation.py --model tiny --documents 32
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from adaptlab.data.registry import check_params, generator
from adaptlab.models import load_model
from adaptlab.models.base import GenerationStats
from adaptlab.training.augment import local_requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--documents", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    lm = load_model(args.model, device="cpu")
    docs = generator("reversal-curse").generate(0, **check_params("reversal-curse", {"people": 4})).documents
    docs = docs[: args.documents]
    requests = local_requests(lm, [d.text for d in docs])
    stop = ("\n\n", "Statement:")
    print(f"{args.model}: {len(requests)} local augmentation prompts, {args.max_new_tokens} new tokens at most, "
          f"{args.threads} thread(s); load average {os.getloadavg()[0]:.2f}", flush=True)

    start = time.perf_counter()
    one_by_one: list[str] = []
    for r in requests:
        texts, _ = lm.generate_with_stats([r.prompt], context=r.context, instruction=r.instruction,
                                          max_new_tokens=args.max_new_tokens, stop=stop)
        one_by_one += texts
    alone = time.perf_counter() - start

    start = time.perf_counter()
    batched, stats = lm.generate_requests(requests, max_new_tokens=args.max_new_tokens, stop=stop)
    together = time.perf_counter() - start
    assert isinstance(stats, GenerationStats)

    same = sum(a == b for a, b in zip(one_by_one, batched, strict=True))
    print(f"one request at a time: {alone:7.1f} s")
    print(f"generate_requests:     {together:7.1f} s  ({stats.tokens_reused // len(requests)} shared tokens per "
          f"prompt prefilled once, {stats.tokens_generated} tokens generated)")
    print(f"speed-up {alone / together:.1f}x; identical outputs {same}/{len(requests)}; "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
