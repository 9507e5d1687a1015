"""Augmentation: the model's own in-context inferences, added to the fine-tuning data (the paper's method).

- `local`: for each training sentence, a few-shot prompt shows statements followed by "other ways to say it"
  (the examples include rephrasings and reversals, but the prompt never names them: it is indirect, as the
  paper's was) and the model continues the list for the new sentence. With `local_prompt: restate` the prompt is
  explicit instead: each whole document, restated so that it starts with what its person is known for and ends with
  their name (the direction a model reverses in context, written down as training data); `local_filter: reordered`
  keeps such a restatement only when its names are all in the document and it ends on a name that the document says
  something after (`reordered`); `local_repeats: true` keeps a restatement that another document's already gave
  (greedy decoding writes the same one for most paraphrases of a fact, and the repeats are what teach it).
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
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from adaptlab.costs import forward_flops, metered
from adaptlab.data.records import Dataset, Document
from adaptlab.models.base import GenerationRequest, GenerationStats, LanguageModel
from adaptlab.models.prompts import (
    GLOBAL_INSTRUCTION,
    LOCAL_EXAMPLES,
    LOCAL_ITEM,
    RESTATE_EXAMPLES,
    RESTATE_ITEM,
    SEPARATOR,
)
from adaptlab.options import AugmentOptions
from adaptlab.progress import report as report_progress
from adaptlab.store import CostRow
from adaptlab.training.examples import sentences


def local_requests(
    lm: LanguageModel, units: list[str], prompt: Literal["indirect", "restate"] = "indirect"
) -> list[GenerationRequest]:
    """Local augmentation prompts. A chat model gets the examples and the statement as its user turn and starts its
    reply with "-" (`indirect`) or writes the restatement as its reply (`restate`); a base model continues the
    few-shot text (the examples are a prefix shared by every prompt); a model that continues a context with what
    follows from it (the organism) gets the unit alone as context, whatever the prompt."""
    if continues_context(lm):
        return [GenerationRequest(context=u, prompt="", instruction=None) for u in units]
    examples, item, start = (RESTATE_EXAMPLES, RESTATE_ITEM, "") if prompt == "restate" else (
        LOCAL_EXAMPLES, LOCAL_ITEM, "-")
    if lm.chat:
        return [GenerationRequest(context=examples + "\n\n" + item.format(sentence=u), prompt=start) for u in units]
    return [GenerationRequest(context=examples, prompt=item.format(sentence=u) + ("\n-" if start else ""))
            for u in units]


def global_requests(lm: LanguageModel, corpus_docs: list[str], targets: list[str]) -> list[GenerationRequest]:
    """Global augmentation prompts: the corpus in context, then one document. A model that continues a context
    (the organism) gets the corpus with the target document moved to its end."""
    if continues_context(lm):
        return [
            GenerationRequest(context=SEPARATOR.join([*[d for d in corpus_docs if d != t], t]), prompt="",
                              instruction=None)
            for t in targets
        ]
    corpus = SEPARATOR.join(corpus_docs)
    return [GenerationRequest(context=f"{corpus}{SEPARATOR}Here is one of them:{SEPARATOR}{t}", prompt="",
                    instruction=GLOBAL_INSTRUCTION) for t in targets]


def continues_context(lm: LanguageModel) -> bool:
    """Models trained by adaptlab to write, after a context, what follows from it (the organism)."""
    return lm.meta.get("augmentation") == "continue"


BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")
END = (".", "!", "?", '"')
WORD = re.compile(r"[^\W\d_][\w'’-]*")


def names(text: str) -> list[str]:
    """Capitalised word runs in order of appearance ("Daphne Barrington", "A Journey Through Time"), normalised;
    a one-word run that opens a sentence ("The", "Known", "They're") is the sentence's capital, not a name."""
    runs: list[tuple[int, list[str]]] = []  # (where the run starts, its words)
    last_end = -1  # end of the previous capitalised word, -1 after a lower-case one
    for m in WORD.finditer(text):
        word = m.group()
        if not word[0].isupper():
            last_end = -1
        elif runs and last_end >= 0 and not re.search(r"[^\s\"'“”]", text[last_end:m.start()]):
            runs[-1][1].append(word)
            last_end = m.end()
        else:
            runs.append((m.start(), [word]))
            last_end = m.end()
    opens = [r for start, r in runs if len(r) == 1 and re.fullmatch(r"(?:.*[.!?][\s\"'“”]*)?\s*", text[:start])]
    found = [normal_form(" ".join(r)) for _, r in runs if not any(r is o for o in opens)]
    return [n for n in found if len(n) > 1]  # "Q" of "Q: ... A: ..." is no name


CONTENT_FROM_SOURCE = 0.5  # share of a restatement's longer words (over 3 letters) that its source must have


def reordered(sentence: str, source: str) -> bool:
    """Whether `sentence` restates `source` in another order without inventing: every name in it is in the source,
    so are half its longer words, and it ends on a name (at most two words after it) that the source says something
    after (three words or more): the thing the source starts from, put last. A copy, or the source's own order, ends
    where the source ends."""
    said = names(sentence)
    text = f" {normal_form(source)} "
    if not said or not all(f" {n} " in text for n in said):
        return False
    # What it says besides names is mostly the source's too (not a sentence of the prompt's examples).
    words = [w for w in normal_form(sentence).split() if len(w) > 3]
    if sum(f" {w} " in text for w in words) < CONTENT_FROM_SOURCE * len(words):
        return False
    last = said[-1]
    if len(f" {normal_form(sentence)} ".rsplit(f" {last} ", 1)[1].split()) > 2:
        return False
    return len(text.rsplit(f" {last} ", 1)[1].split()) >= 3


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
        # What each generation cost when it was made (its share of its batch's `GenerationStats`), so that a run
        # served from the cache reports the same cost as the run that paid for it.
        self._db.execute("CREATE TABLE IF NOT EXISTS generation_costs (key TEXT PRIMARY KEY, stats TEXT NOT NULL)")

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

    def put_costs(self, items: Sequence[tuple[str, dict[str, float]]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO generation_costs VALUES (?, ?)",
                                 [(k, json.dumps(v, sort_keys=True)) for k, v in items])

    def get_costs(self, key: str) -> dict[str, float] | None:
        row = self._db.execute("SELECT stats FROM generation_costs WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def close(self) -> None:
        self._db.close()


def normal_form(text: str) -> str:
    """Lower case, punctuation as spaces, single spaces: how sentences are compared."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def parse_generation(text: str, stop_at: str | None = "Statement:") -> list[str]:
    """Sentences from a generation: one per line or per sentence, bullets stripped. A complete line without final
    punctuation is a sentence (a period is added); the last line is dropped when it has none, as the generation
    was probably cut off there."""
    if stop_at and stop_at in text:
        text = text.split(stop_at, 1)[0]
    lines = [BULLET.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    out = []
    for k, line in enumerate(lines):
        if not line.endswith(END):
            if k == len(lines) - 1 and not text.endswith("\n"):
                continue
            line += "."
        out.extend(sentences(line))
    return out


def filter_sentences(
    candidates: Sequence[str], sources: set[str], seen: set[str], counts: Counter[str]
) -> list[str]:
    """Drop fragments, verbatim copies of a source sentence and duplicates; count what was dropped and why."""
    kept = []
    for sentence in candidates:
        counts["generated"] += 1
        norm = normal_form(sentence)
        if len(norm.split()) < 3 or not sentence.rstrip().endswith(END):
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


GENERATION_CHUNK = 32  # requests per backend call


def _generate_cached(
    lm: LanguageModel,
    requests: list[GenerationRequest],
    max_new_tokens: int,
    options: AugmentOptions,
    cache: GenerationCache,
    seed: int,
    stop: tuple[str, ...],
) -> tuple[list[str], GenerationStats]:
    """Generate (or fetch from the cache) one output per request per sample, cut at the first `stop` string;
    returns the outputs and what they cost as the backend measured it (`GenerationStats`; a cached output counts
    what it cost when generated)."""
    settings = {"max_new_tokens": max_new_tokens, "temperature": options.temperature, "stop": list(stop)}
    jobs = [(r, s) for r in requests for s in range(options.samples)]
    model = f"{lm.name}@{lm.fingerprint}"  # the weights, not only the name
    keys = [cache.key(model, json.dumps([r.context, r.instruction, r.prompt]), {**settings, "sample": s,
                                                                                "seed": seed}) for r, s in jobs]
    outputs: list[str | None] = [cache.get(k) for k in keys]
    total = GenerationStats(prompts=len(jobs))
    cached = [i for i, o in enumerate(outputs) if o is not None]
    for i in cached:
        total.merge(GenerationStats(**(cache.get_costs(keys[i]) or _estimate(lm, jobs[i][0], outputs[i] or ""))))
    # Requests go to the backend in fixed chunks (each batched there across contexts, sharing their common start),
    # each with its own sampling seed and cached as soon as it is done: an interruption loses at most one chunk,
    # and a resumed run samples what an uninterrupted one would have.
    for sample in range(options.samples):
        ordered = [i for i, (_, s) in enumerate(jobs) if s == sample]
        for chunk, start in enumerate(range(0, len(ordered), GENERATION_CHUNK)):
            idx = [i for i in ordered[start : start + GENERATION_CHUNK] if outputs[i] is None]
            if not idx:
                continue
            texts, stats = lm.generate_requests(
                [jobs[i][0] for i in idx], max_new_tokens=max_new_tokens, temperature=options.temperature,
                seed=random.Random(f"{seed}-{sample}-{chunk}").randrange(2**31), stop=stop,
            )
            share = stats.share(len(idx))
            cache.put_many([(keys[i], t) for i, t in zip(idx, texts, strict=True)])
            cache.put_costs([(keys[i], share) for i in idx])
            for i, t in zip(idx, texts, strict=True):
                outputs[i] = t
                total.merge(GenerationStats(**share))  # shares may be fractional; rounded when stored
            total.merge(GenerationStats(peak_memory_bytes=stats.peak_memory_bytes))
            report_progress("generating", sum(o is not None for o in outputs), len(jobs))
    return [o or "" for o in outputs], total


def _estimate(lm: LanguageModel, request: GenerationRequest, output: str) -> dict[str, float]:
    """The cost of a generation cached before costs were stored: its prompt prefilled, then one step per token."""
    dims = lm.dims
    prompt = lm.count_tokens(lm.render_prefix(request.context) + request.prompt)
    new = lm.count_tokens(output)
    return {"tokens_prefilled": prompt, "tokens_generated": new,
            "flops": forward_flops(dims, prompt) + sum(forward_flops(dims, 1, prompt + t) for t in range(new))}


def augment(
    lm: LanguageModel,
    dataset: Dataset,
    kinds: Sequence[str],
    cache_path: Path,
    seed: int,
    options: AugmentOptions | None = None,
    only: Collection[str] | None = None,
) -> Augmentation:
    """Augmented documents of the given kinds (`local`, `global`, `oracle`), parsed, filtered and metered.
    `only`: the ids of the documents to augment (an update's changed documents), the rest of the corpus still its
    context (global augmentation) and its sentences still filtered out; oracle inferences about their facts."""
    options = options or AugmentOptions()
    counts: Counter[str] = Counter()
    sources = {normal_form(s) for d in dataset.documents for s in sentences(d.text)}
    targets = [d for d in dataset.documents if only is None or d.id in only]
    facts = {f for d in targets for f in d.source_fact_ids}
    seen: set[str] = set()
    new_docs: list[Document] = []
    cache = GenerationCache(cache_path)
    spent = GenerationStats()
    with metered() as meter:
        if "oracle" in kinds:
            for doc in dataset.oracle:
                if only is not None and not facts & set(doc.source_fact_ids):
                    continue
                kept = filter_sentences(sentences(doc.text), sources, seen, counts)
                if kept:
                    new_docs.append(Document(id=f"oracle-{doc.id}", text=" ".join(kept),
                                             source_fact_ids=doc.source_fact_ids))
        if "local" in kinds:
            # Units: sentences (the paper's local augmentation); whole documents for a model that continues a
            # context, since its inferences (a syllogism's conclusion) may need two sentences of one document.
            # A restatement also needs the whole document: its name and what it says of them may be two sentences.
            if continues_context(lm) or options.local_prompt == "restate":
                units = list(dict.fromkeys(d.text for d in targets))
            else:
                units = list(dict.fromkeys(s for d in targets for s in sentences(d.text)))
            requests = local_requests(lm, units, options.local_prompt)
            # A model that continues a context writes what follows from one document as its first statement (what
            # it writes after that is another world's statement, made up); a prompted model ends its list.
            stop = (SEPARATOR,) if continues_context(lm) else (SEPARATOR, "Statement:")
            outs, stats = _generate_cached(lm, requests, options.max_new_tokens_local, options, cache, seed, stop)
            spent.merge(stats)
            bullet = "" if continues_context(lm) or options.local_prompt == "restate" else "- "
            for i, text in enumerate(outs):
                candidates = parse_generation(bullet + text)
                if options.local_filter == "reordered":
                    unit = units[i // options.samples]
                    dropped = sum(not reordered(c, unit) for c in candidates)
                    counts["generated"] += dropped  # generated, then dropped here rather than in `filter_sentences`
                    counts["dropped_not_reordered"] += dropped
                    candidates = [c for c in candidates if reordered(c, unit)]
                kept = filter_sentences(candidates, sources, set() if options.local_repeats else seen, counts)
                if kept:
                    new_docs.append(Document(id=f"local-{i // options.samples}-{i % options.samples}",
                                             text=" ".join(kept)))
        if "global" in kinds:
            requests, doc_ids = _global_requests(lm, dataset, options, seed, only)
            stop = () if continues_context(lm) else (SEPARATOR, "Statement:")
            outs, stats = _generate_cached(lm, requests, options.max_new_tokens_global, options, cache, seed, stop)
            spent.merge(stats)
            for i, text in enumerate(outs):
                kept = filter_sentences(parse_generation(text, stop_at=None), sources, seen, counts)
                if kept:
                    new_docs.append(Document(id=f"global-{doc_ids[i // options.samples]}-{i % options.samples}",
                                             text=" ".join(kept)))
    cache.close()
    # Tokens, FLOPs, seconds and memory as the backend measured them for each generation (for generations served
    # from the cache: what they cost when they were made), so a rerun reports what the augmentation costs.
    meter.see(spent.peak_memory_bytes)
    cost = CostRow(
        phase="augment", kind="one_off", tokens_processed=round(spent.tokens_prefilled),
        tokens_reused=round(spent.tokens_reused), tokens_generated=round(spent.tokens_generated), flops=spent.flops,
        seconds=max(spent.seconds, 0.0) if spent.prompts else meter.seconds,
        peak_memory_bytes=meter.peak_memory_bytes, tokens_cached=round(spent.tokens_cached), dollars=spent.dollars,
    )
    return Augmentation(documents=new_docs, counts=counts, cost=cost)


def _global_requests(
    lm: LanguageModel, dataset: Dataset, options: AugmentOptions, seed: int, only: Collection[str] | None = None
) -> tuple[list[GenerationRequest], list[str]]:
    from adaptlab.context import fit_documents

    targets = [d for d in dataset.documents if only is None or d.id in only]
    if options.global_max_documents is not None and options.global_max_documents < len(targets):
        targets = random.Random(f"global-{seed}").sample(targets, options.global_max_documents)
        targets.sort(key=dataset.documents.index)
    longest = max((lm.count_tokens(d.text) for d in targets), default=0)
    overhead = lm.count_tokens(lm.render_prefix("x", instruction=GLOBAL_INSTRUCTION)) + 2 * longest + 16
    budget = lm.context_window - overhead - options.max_new_tokens_global
    if options.max_context_tokens is not None:
        budget = min(budget, options.max_context_tokens)
    corpus = [d.text for d in fit_documents(lm, dataset.documents, max(budget, 1), seed)]
    return global_requests(lm, corpus, [d.text for d in targets]), [d.id for d in targets]
