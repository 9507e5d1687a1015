"""How close adaptlab's ICL scoring runs to the forward pass it cannot avoid, side by side in one run.

The questions are `icl_scoring.py`'s: one shared context (≥ 2000 tokens by default) and questions with 4 multi-token
choices. Every variant below computes the same tokens: the context once, then the question + choice tokens of every
(question, choice) row, laid end to end in the packs adaptlab itself forms (`make_packs` with the model's
`max_pack_tokens`). Timed after a warm-up, in turn, `--repeats` times, every other time in reverse order (the
fastest of each is kept):

- `adaptlab score`: `model.score(requests)`, everything included (tokenization and planning, the context prefill,
  the packed forwards with their 4D masks, the output head on answer positions, the log-softmax and the sums).
- `floor: forward after the context cache`: the plain Hugging Face forward of the same packs,
  `model(input_ids=pack, past_key_values=<context cache>, logits_to_keep=<answer positions>)`, plus the context
  prefill and the log-softmax of the kept rows. Its attention is the plain causal one: each packed token attends to
  the whole context and to every earlier token of its pack, which is at least what adaptlab computes (its mask hides
  the other rows of the pack, but the attention kernel still computes those pairs). This is the fair floor: the same
  tokens with the same shared-context attention, without adaptlab's masks, planning or bookkeeping.
- `no context attention (not a floor)`: the same packs forwarded from position 0 with no cache: the tokens' cost
  without attending to the context. The gap between it and the floor is what the context costs, which no scorer
  of these questions can skip.

Prints tokens/s (every token computed, context included, divided by seconds), the ratios and the load average
(`os.getloadavg()`) before and after. Threads are set explicitly (`--threads`, default 2: the cores of the
machine; more threads than free cores makes small matrix products many times slower).

    python benchmarks/scoring_limit.py --model smollm2                 # 200 questions, 2000-token context
    python benchmarks/scoring_limit.py --model smollm2 --questions 50 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch
from transformers.cache_utils import DynamicCache

from adaptlab.context import build_context
from adaptlab.models import ScoreRequest, load_model
from adaptlab.models.hf_cache import expand_cache
from adaptlab.models.scoring_plan import Plan, make_packs, plan_requests
from adaptlab.models.transformers_backend import TransformersModel
from icl_scoring import build_dataset


def packed_rows(model: TransformersModel, plan: Plan) -> list[list[int]]:
    """The rows of each pack, as adaptlab's packed route forms them (one prefix)."""
    lengths = [len(r.suffix) for r in plan.rows]
    return [list(p) for p in make_packs(lengths, model.max_pack_tokens, 4 * model.max_batch_rows)]


def forward_packs(model: TransformersModel, plan: Plan, packs: list[list[int]], *, context: bool) -> float:
    """Forward every pack with the plain model call; returns the sum of the answer tokens' log-probabilities (so
    that nothing is optimised away)."""
    net = model.torch_model
    prefix = list(plan.prefixes[0])
    total = 0.0
    with torch.inference_mode():
        cache = prefill(net, prefix) if context else None
        for pack in packs:
            rows = [plan.rows[r] for r in pack]
            ids = [t for row in rows for t in row.suffix]
            keep, targets, offset = [], [], 0
            for row in rows:
                n = len(row.suffix)
                keep += range(offset + n - row.n_target - 1, offset + n - 1)
                targets += row.suffix[n - row.n_target :]
                offset += n
            start = len(prefix) if context else 0
            out = net(
                input_ids=torch.tensor([ids]),
                position_ids=torch.arange(start, start + len(ids))[None],
                past_key_values=expand_cache(cache, 1) if cache is not None else None,
                use_cache=cache is not None,
                logits_to_keep=torch.tensor(keep),
            )
            logp = torch.log_softmax(out.logits[0].float(), dim=-1)
            total += float(logp.gather(1, torch.tensor(targets)[:, None]).sum())
        if not context:  # the context's tokens are computed here too, on their own
            net(input_ids=torch.tensor([prefix]), use_cache=False, logits_to_keep=1)
    return total


def prefill(net: torch.nn.Module, prefix: list[int]) -> DynamicCache:
    """The context's key/value cache, from one plain forward."""
    cache = DynamicCache(config=net.config)
    net(input_ids=torch.tensor([prefix]), past_key_values=cache, use_cache=True, logits_to_keep=1)
    return cache


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--choices", type=int, default=4)
    parser.add_argument("--context-tokens", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-baseline", action="store_true", help="skip the no-context forward")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    model = load_model(args.model, device="cpu", dtype="float32")
    torch.set_num_threads(args.threads)  # after loading: `load_model` sets its own default
    dataset = build_dataset(model, args.questions, args.choices, args.context_tokens)
    context = build_context(dataset.documents)
    requests = [ScoreRequest(context, q.prompt, tuple(q.choices)) for q in dataset.questions]
    start = time.perf_counter()
    plan = plan_requests(requests, render_prefix=model.render_prefix, encode_prefix=model.encode_prefix,
                         encode=model.encode, context_window=model.context_window, model_name=model.name)
    plan_seconds = time.perf_counter() - start
    if len(plan.prefixes) != 1:
        raise SystemExit(f"expected one shared prefix, got {len(plan.prefixes)}")
    packs = packed_rows(model, plan)
    n_prefix, n_suffix = len(plan.prefixes[0]), sum(len(r.suffix) for r in plan.rows)
    tokens = n_prefix + n_suffix

    variants: dict[str, Callable[[], object]] = {
        "adaptlab score": lambda: model.score(requests),
        "floor: forward after the context cache": lambda: forward_packs(model, plan, packs, context=True),
    }
    if not args.no_baseline:
        variants["no context attention (not a floor)"] = lambda: forward_packs(model, plan, packs, context=False)
    warm = requests[: max(1, len(requests) // 20)]
    model.score(warm)
    forward_packs(model, plan, packs[:1], context=True)

    load_before = os.getloadavg()
    best = {name: float("inf") for name in variants}
    for repeat in range(args.repeats):
        # every other repeat in reverse order, so that a load that rises or falls during the run favours no variant
        order = list(variants.items())
        for name, fn in order if repeat % 2 == 0 else order[::-1]:
            best[name] = min(best[name], timed(fn))
    load_after = os.getloadavg()

    print(f"model {model.name} ({model.n_params / 1e6:.1f}M params) on cpu, {torch.get_num_threads()} threads, "
          f"packing {model.packing}")
    print(f"load average before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in load_after)}")
    print(f"{args.questions} questions × {args.choices} choices = {len(plan.rows)} rows after a {n_prefix}-token "
          f"context: {n_suffix} suffix tokens in {len(packs)} packs, {tokens} tokens in all")
    print(f"tokenization and planning (part of adaptlab score): {plan_seconds:.3f} s")
    floor = best["floor: forward after the context cache"]
    print(f"{'':40}{'seconds':>10}{'tokens/s':>10}{'× floor':>10}")
    for name, seconds in best.items():
        print(f"{name:40}{seconds:10.2f}{tokens / seconds:10.1f}{seconds / floor:10.2f}")


if __name__ == "__main__":
    main()
