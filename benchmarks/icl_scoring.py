"""ICL scoring speed, side by side in one run: adaptlab's shared-prefix scoring vs (a) naive per-choice scoring and
(b) lm-evaluation-harness (`lm-eval[hf]`) on the same local model and the same questions, exported with
`adaptlab data export-lm-eval`. Prints the speed ratios, the largest score difference and the load average.

The questions: an adaptlab dataset of comparison facts (the ICL context, ≥ 2000 tokens by default) and questions
with 4 multi-token choices each. Every question has the same context, as in the paper's ICL setting. lm-eval scores
`doc_to_text + " " + choice` with the context rendered into `doc_to_text` exactly as adaptlab renders it for the
model, so both score the same text. Slow scorers can be run on the first N questions only and their time scaled
per question (`--naive-questions`, `--lm-eval-questions`); scores are compared on the questions both scored.

    python benchmarks/icl_scoring.py                               # tiny model, 200 questions, 2000-token context
    python benchmarks/icl_scoring.py --model smollm2 --naive-questions 4 --lm-eval-questions 4
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from adaptlab.context import build_context
from adaptlab.data.lexicon import Lexicon
from adaptlab.data.records import Dataset, Document, Question
from adaptlab.models import ScoreRequest, load_model

FEATURES = ("heavier", "lighter", "faster", "slower", "brighter", "darker", "older", "younger")


def build_dataset(model, n_questions: int, n_choices: int, context_tokens: int) -> Dataset:
    lex = Lexicon(7)
    documents: list[Document] = []
    while model.count_tokens(model.render_prefix(build_context(documents))) < context_tokens:
        a, b = lex.take(2)
        feature = FEATURES[len(documents) % len(FEATURES)]
        documents.append(Document(id=f"d{len(documents)}", text=f"The {a} is {feature} than the {b}."))
    questions = []
    for i in range(n_questions):
        subject, *others = lex.take(1 + n_choices)
        choices = [f"{FEATURES[(i + j) % len(FEATURES)]} than the {o}" + " and the rest" * j
                   for j, o in enumerate(others)]
        questions.append(Question(id=f"q{i}", prompt=f"The {subject} is", choices=choices, answer=i % n_choices,
                                  split="test"))
    return Dataset("bench", documents, questions)


def lm_eval_scores(model_dir: str, dataset: Dataset, prefix: str, limit: int, batch_size: int, add_bos: bool):
    """Score with lm-evaluation-harness's HF backend on the exported task; returns (seconds, scores per question)."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from adaptlab.data.export import export_lm_eval

    tasks_dir = Path(tempfile.mkdtemp(prefix="adaptlab-lmeval-"))
    (task,) = export_lm_eval(dataset, tasks_dir, prefix)
    # adaptlab's prefix starts with the tokenizer's BOS where the model expects one; so must lm-eval's requests.
    lm = HFLM(pretrained=model_dir, device="cpu", dtype="float32", batch_size=batch_size, add_bos_token=add_bos)
    manager = TaskManager(include_path=str(tasks_dir))
    os.environ["TQDM_DISABLE"] = "1"
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(model=lm, tasks=[task], task_manager=manager, limit=limit, log_samples=True,
                                  verbosity="ERROR")
    seconds = time.perf_counter() - start
    by_id = {s["doc"]["id"]: [float(r[0][0]) for r in s["resps"]] for s in out["samples"][task]}
    return seconds, by_id


def model_folder(spec: str) -> Path:
    """The local safetensors folder lm-eval loads for the same model."""
    from adaptlab.models.aliases import alias_folder

    return alias_folder(spec) or Path(spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--choices", type=int, default=4)
    parser.add_argument("--context-tokens", type=int, default=2000)
    parser.add_argument("--naive-questions", type=int, default=None, help="naive-score only the first N questions")
    parser.add_argument("--lm-eval-questions", type=int, default=None, help="lm-eval on the first N questions only")
    parser.add_argument("--lm-eval-batch-size", type=int, default=8)
    parser.add_argument("--padded", action="store_true", help="force the padded route instead of packing")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    model = load_model(args.model, device="cpu", dtype="float32")
    if args.padded:
        model.packing = False
    dataset = build_dataset(model, args.questions, args.choices, args.context_tokens)
    context = build_context(dataset.documents)
    requests = [ScoreRequest(context, q.prompt, tuple(q.choices)) for q in dataset.questions]
    model.score(requests[:1])  # warm-up
    ours, s = model.score(requests)

    n_naive = min(args.naive_questions or args.questions, args.questions)
    naive, n = model.score_naive(requests[:n_naive])
    naive_seconds = n.seconds * args.questions / n_naive
    diff_naive = max(abs(a.logprob - b.logprob) for x, y in zip(ours, naive, strict=False)
                     for a, b in zip(x, y, strict=True))

    n_lm = min(args.lm_eval_questions or args.questions, args.questions)
    model_dir = str(model_folder(args.model))
    prefix = model.render_prefix(context)
    add_bos = bool(model.encode_prefix(prefix)[:1] == [model.tokenizer.bos_token_id])
    lm_seconds, lm_scores = lm_eval_scores(model_dir, dataset, prefix, n_lm, args.lm_eval_batch_size, add_bos)
    lm_seconds_all = lm_seconds * args.questions / n_lm
    diff_lm = max(abs(a.logprob - b) for q, x in zip(dataset.questions, ours, strict=True) if q.id in lm_scores
                  for a, b in zip(x, lm_scores[q.id], strict=True))

    load = os.getloadavg()
    n_prefix = model.count_tokens(prefix)
    route = "packed" if getattr(model, "packing", False) else "padded"
    print(f"model {model.name} ({model.n_params / 1e6:.1f}M params) on cpu, {torch.get_num_threads()}"
          f" threads; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{args.questions} questions × {args.choices} multi-token choices sharing a {n_prefix}-token context")
    print(f"{'':34}{'seconds':>10}{'prefilled':>12}{'reused':>12}{'GFLOP':>10}")
    print(f"{'adaptlab shared prefix (' + route + ')':34}{s.seconds:10.2f}{s.tokens_prefilled:12d}"
          f"{s.tokens_reused:12d}{s.flops / 1e9:10.1f}")
    scale = args.questions / n_naive
    label = "naive per choice" + ("" if n_naive == args.questions else f" (×{scale:.0f} of {n_naive})")
    print(f"{label:34}{naive_seconds:10.2f}{round(n.tokens_prefilled * scale):12d}{0:12d}"
          f"{n.flops * scale / 1e9:10.1f}")
    label = "lm-evaluation-harness" + ("" if n_lm == args.questions else f" (×{args.questions / n_lm:.0f} of {n_lm})")
    print(f"{label:34}{lm_seconds_all:10.2f}")
    print(f"speedup vs naive {naive_seconds / s.seconds:.1f}× (max |Δ logprob| {diff_naive:.2e} on {n_naive} q.)")
    print(f"speedup vs lm-eval {lm_seconds_all / s.seconds:.1f}× (max |Δ logprob| {diff_lm:.2e} on {n_lm} q.)")


if __name__ == "__main__":
    main()
