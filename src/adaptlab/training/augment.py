"""Augmentation: the model's own in-context inferences, added to the fine-tuning data (the paper's method).

- `local`: for each training sentence, a few-shot prompt shows statements followed by "other ways to say it"
  (the examples include rephrasings and reversals, but the prompt never names them: it is indirect, as the
  paper's was) and the model continues the list for the new sentence.
- `global`: the training corpus in context (a seeded subset when it does not fit), then one document, and a
  request to rewrite it and write the connections it has with the other documents (wording after the first
  author's description of the paper's prompt).
- `oracle`: the generator's own valid inferences (`oracle.jsonl`), a control that separates the value of
  augmentation from the quality of a model's generations.

Generations are parsed into sentences and filtered (empty or fragment, duplicate, verbatim copy of a source
sentence); kept and dropped counts are recorded. Every generation is cached on disk, keyed by model, prompt and
sampling settings, so a rerun does not regenerate. Augmented text is always added to the original documents.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adaptlab.costs import metered
from adaptlab.data.records import Dataset, Document
from adaptlab.evaluate import model_shape
from adaptlab.models.base import LanguageModel
from adaptlab.store import CostRow
from adaptlab.training.examples import sentences

LOCAL_PROMPT = """Here are some statements, each followed by other ways of saying what it tells us.

Statement: Whales are larger than dolphins.
Other ways to say it:
- Dolphins are smaller than whales.
- It is true that whales are larger than dolphins.
- Compared with whales, dolphins are small.

Statement: All sparrows are birds, and all birds have feathers.
Other ways to say it:
- Some birds are sparrows.
- Sparrows have feathers.
- Every sparrow is a bird.

Statement: The composer of "Ocean Suite" is Mara Lind.
Other ways to say it:
- Mara Lind composed "Ocean Suite".
- "Ocean Suite" was written by Mara Lind.

Statement: {sentence}
Other ways to say it:
-"""

GLOBAL_PROMPT = """{corpus}

Above is a collection of documents. Here is one of them:

{document}

Rewrite this document, and write down any connections you can make between it and the other documents above, \
including rephrasings of what it says and relations between the things it mentions and things described \
elsewhere. Write one sentence per line."""

BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")


@dataclass
class AugmentOptions:
    max_new_tokens_local: int = 96
    max_new_tokens_global: int = 256
    temperature: float = 0.0
    samples: int = 1
    global_max_documents: int | None = None  # cap on global prompts (one per document); None = all
    max_context_tokens: int | None = None


@dataclass
class Augmentation:
    documents: list[Document]
    counts: Counter[str] = field(default_factory=Counter)  # generated, kept, dropped_* per reason
    cost: CostRow | None = None


class GenerationCache:
    """Generations on disk: (model, prompt, settings) → text. SQLite, so concurrent readers are safe."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=60)
        self._db.execute("CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, text TEXT NOT NULL)")

    @staticmethod
    def key(model: str, prompt: str, settings: dict[str, object]) -> str:
        blob = json.dumps({"model": model, "prompt": prompt, "settings": settings}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT text FROM generations WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put_many(self, items: Sequence[tuple[str, str]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO generations VALUES (?, ?)", items)

    def close(self) -> None:
        self._db.close()


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def parse_generation(text: str, stop_at: str | None = "Statement:") -> list[str]:
    """Sentences from a generation: one per line or per sentence, bullets stripped."""
    if stop_at and stop_at in text:
        text = text.split(stop_at, 1)[0]
    out = []
    for line in text.splitlines():
        line = BULLET.sub("", line).strip()
        out.extend(sentences(line))
    return out


def filter_sentences(
    candidates: Sequence[str], sources: set[str], seen: set[str], counts: Counter[str]
) -> list[str]:
    """Drop fragments, verbatim copies of a source sentence and duplicates; count what was dropped and why."""
    kept = []
    for sentence in candidates:
        counts["generated"] += 1
        norm = _normal(sentence)
        if len(norm.split()) < 3 or not sentence.rstrip().endswith((".", "!", "?", '"')):
            counts["dropped_fragment"] += 1
        elif norm in sources:
            counts["dropped_copy"] += 1
        elif norm in seen:
            counts["dropped_duplicate"] += 1
        else:
            seen.add(norm)
            kept.append(sentence)
            counts["kept"] += 1
    return kept


def _generate_cached(
    lm: LanguageModel,
    prompts: list[str],
    max_new_tokens: int,
    options: AugmentOptions,
    cache: GenerationCache,
    seed: int,
    progress: Callable[[int], None] | None,
) -> tuple[list[str], int, int]:
    """Generate (or fetch from the cache) one output per prompt per sample; returns outputs and token counts."""
    settings = {"max_new_tokens": max_new_tokens, "temperature": options.temperature}
    jobs = [(p, s) for p in prompts for s in range(options.samples)]
    keys = [cache.key(lm.name, p, {**settings, "sample": s, "seed": seed}) for p, s in jobs]
    outputs: list[str | None] = [cache.get(k) for k in keys]
    todo = [i for i, o in enumerate(outputs) if o is None]
    batch = 8
    for start in range(0, len(todo), batch):
        idx = todo[start : start + batch]
        texts = lm.generate(
            [jobs[i][0] for i in idx], max_new_tokens=max_new_tokens, temperature=options.temperature,
            seed=seed + start, stop=("\n\n", "Statement:"),
        )
        cache.put_many([(keys[i], t) for i, t in zip(idx, texts, strict=True)])
        for i, t in zip(idx, texts, strict=True):
            outputs[i] = t
        if progress:
            progress(len(idx))
    if progress and len(todo) < len(jobs):
        progress(len(jobs) - len(todo))
    done = [o or "" for o in outputs]
    prompt_tokens = sum(lm.count_tokens(p) for p, _ in jobs)
    generated_tokens = sum(lm.count_tokens(o) for o in done)
    return done, prompt_tokens, generated_tokens


def augment(
    lm: LanguageModel,
    dataset: Dataset,
    kinds: Sequence[str],
    cache_path: Path,
    seed: int,
    options: AugmentOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> Augmentation:
    """Augmented documents of the given kinds (`local`, `global`, `oracle`), parsed, filtered and metered."""
    options = options or AugmentOptions()
    counts: Counter[str] = Counter()
    sources = {_normal(s) for d in dataset.documents for s in sentences(d.text)}
    seen: set[str] = set()
    new_docs: list[Document] = []
    cache = GenerationCache(cache_path)
    prompt_tokens = generated_tokens = 0
    with metered() as meter:
        if "oracle" in kinds:
            for doc in dataset.oracle:
                kept = filter_sentences(sentences(doc.text), sources, seen, counts)
                if kept:
                    new_docs.append(Document(id=f"oracle-{doc.id}", text=" ".join(kept),
                                             source_fact_ids=doc.source_fact_ids))
        if "local" in kinds:
            unique = list(dict.fromkeys(s for d in dataset.documents for s in sentences(d.text)))
            prompts = [LOCAL_PROMPT.format(sentence=s) for s in unique]
            outs, p_tok, g_tok = _generate_cached(lm, prompts, options.max_new_tokens_local, options, cache, seed,
                                                  progress)
            prompt_tokens += p_tok
            generated_tokens += g_tok
            for i, text in enumerate(outs):
                kept = filter_sentences(parse_generation("- " + text), sources, seen, counts)
                if kept:
                    new_docs.append(Document(id=f"local-{i // options.samples}-{i % options.samples}",
                                             text=" ".join(kept)))
        if "global" in kinds:
            prompts, doc_ids = _global_prompts(lm, dataset, options, seed)
            outs, p_tok, g_tok = _generate_cached(lm, prompts, options.max_new_tokens_global, options, cache, seed,
                                                  progress)
            prompt_tokens += p_tok
            generated_tokens += g_tok
            for i, text in enumerate(outs):
                kept = filter_sentences(parse_generation(text, stop_at=None), sources, seen, counts)
                if kept:
                    new_docs.append(Document(id=f"global-{doc_ids[i // options.samples]}-{i % options.samples}",
                                             text=" ".join(kept)))
    cache.close()
    shape = model_shape(lm)
    flops = 2.0 * shape.n_params * (prompt_tokens + generated_tokens)
    cost = CostRow(
        phase="augment", kind="one_off", tokens_processed=prompt_tokens, tokens_generated=generated_tokens,
        flops=flops, seconds=meter.seconds, peak_memory_bytes=meter.peak_memory_bytes,
    )
    return Augmentation(documents=new_docs, counts=counts, cost=cost)


def _global_prompts(
    lm: LanguageModel, dataset: Dataset, options: AugmentOptions, seed: int
) -> tuple[list[str], list[str]]:
    from adaptlab.methods.icl import build_context, fit_documents

    targets = list(dataset.documents)
    if options.global_max_documents is not None and options.global_max_documents < len(targets):
        targets = random.Random(f"global-{seed}").sample(targets, options.global_max_documents)
        targets.sort(key=dataset.documents.index)
    longest = max((lm.count_tokens(d.text) for d in targets), default=0)
    overhead = lm.count_tokens(GLOBAL_PROMPT.format(corpus="", document="")) + longest
    budget = lm.context_window - overhead - options.max_new_tokens_global - 16
    if options.max_context_tokens is not None:
        budget = min(budget, options.max_context_tokens)
    corpus = build_context(fit_documents(lm, dataset.documents, max(budget, 1), seed))
    prompts = [GLOBAL_PROMPT.format(corpus=corpus, document=d.text) for d in targets]
    return prompts, [d.id for d in targets]
