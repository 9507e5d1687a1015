"""Open questions written from documents by a model (`adaptlab data synthesize`): a sibling of augmentation.

1. **Writing.** For each document, one request asks the writer for N question–answer pairs, one "Q: ..." line and
   one "A: ..." line each (`prompts.SYNTH_INSTRUCTION`). `parse_pairs` reads them robustly (bullets, numbering,
   bold markers and "Question:"/"Answer:" labels are tolerated; a pair on one line too) and drops malformed ones,
   counted by reason: a question without an answer (often the last one, cut off), an answer without a question, a
   question of fewer than three words, an empty or over-long answer (more than `MAX_ANSWER_WORDS` words: the
   answer must be gradable), an answer the question already states, a question asked before. The first N
   well-formed pairs of a document are checked; more are counted as `dropped_extra`.
2. **Filtering.** The writer answers each question twice, greedily and in a few words: with its source document
   in context and with no context. A question is kept only when the answer with the document is right and the
   answer without it is wrong; "right" is token F1 >= 0.5 or containment of the reference (`is_right`, SQuAD
   grading from `adaptlab.grading`). Wrong with the document: `dropped_unanswerable` (the pair is wrong, or the
   document does not say it); right without: `dropped_trivial` (known or guessable without the document, so it
   does not measure learning it).
3. **Tagging.** A kept question's `source_fact_ids` is its source document's id; split `rephrase`.
4. **Two documents** (optional, `pairs` = N): at most N pairs of documents that share a name or a number
   (`synthesize_pairs.select_pairs`, drawn by the seed), one request per pair with both documents in context
   (`prompts.PAIR_INSTRUCTION`) for `per_document` question–answer pairs whose answer needs both, parsed the same way. A
   question is kept only when the writer answers it right with both documents, wrong with either one alone
   (`dropped_one_document_enough`) and wrong without context; split `two_documents`, `source_fact_ids` both
   documents' ids, ids "<first>+<second>-p<n>". Counted apart, every count prefixed `two_documents_`.
5. **Multiple choice** (optional, `choices` = K): each kept question again with K-1 distractors taken from the
   answers the writer gave for other documents — of the same kind (a number, a name, another phrase) first, then
   of any kind — none of which grades as right against the reference; shuffled by the seed; split
   `rephrase_mc`. A question with too few distractors has no multiple-choice version (`mc_skipped`).

Every generation is cached (`GenerationCache`, keyed by the model's name and fingerprint, the request, the
settings and the seed), so a rerun generates nothing and writes the same dataset.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adaptlab.context import build_context
from adaptlab.data.io import check_overwrite, load_dataset, write_dataset
from adaptlab.data.records import Dataset, Document, Generated, Manifest, Question
from adaptlab.errors import AdaptlabError
from adaptlab.evaluate_open import generation_requests
from adaptlab.grading import contains, f1, normalise
from adaptlab.models.base import GenerationRequest, GenerationStats, LanguageModel
from adaptlab.models.prompts import (
    SYNTH_INSTRUCTION,
    SYNTH_PROMPT,
    written_question_prompt,
)
from adaptlab.models.registry import model_fingerprint
from adaptlab.paths import cache_dir, writable_dir
from adaptlab.progress import report as report_progress
from adaptlab.training.augment import BULLET, GenerationCache
from adaptlab.training.synthesize_pairs import pair_writing_request, select_pairs

SYNTH_VERSION = "1"
SYNTHESIS_FILE = "synthesis.json"
SPLIT, MC_SPLIT, PAIR_SPLIT = "rephrase", "rephrase_mc", "two_documents"
MIN_QUESTION_WORDS = 3
MAX_ANSWER_WORDS = 12
ANSWER_TOKENS = 32  # an answer in a few words, as open questions are answered in evaluation
ANSWER_STOP = ("\n",)
RIGHT_F1 = 0.5
CHUNK = 32  # requests per backend call; each chunk is cached as soon as it is done

Q_LINE = re.compile(r"^(?:question|q)\s*\d*\s*:\s*(.*)$", re.IGNORECASE)
A_LINE = re.compile(r"^(?:answer|a)\s*\d*\s*:\s*(.*)$", re.IGNORECASE)
INLINE_A = re.compile(r"\s(?:answer|a)\s*:\s*", re.IGNORECASE)
COUNTS = ("written", "dropped_malformed", "dropped_extra", "dropped_unanswerable", "dropped_trivial", "kept")
PAIR = "two_documents_"  # the prefix of the counts of questions that need two documents
PAIR_COUNTS = tuple(PAIR + c for c in ("pairs", "written", "dropped_malformed", "dropped_extra", "dropped_unanswerable",
                                       "dropped_one_document_enough", "dropped_trivial", "kept"))


@dataclass(frozen=True)
class Pair:
    question: str
    answer: str


@dataclass(frozen=True)
class Candidate:
    document: Document
    pair: Pair
    second: Document | None = None  # the other document of a question that needs two

    @property
    def documents(self) -> tuple[Document, ...]:
        return (self.document,) if self.second is None else (self.document, self.second)


@dataclass
class Synthesis:
    questions: list[Question]  # kept open questions, their multiple-choice versions, then those about two documents
    counts: Counter[str] = field(default_factory=Counter)  # COUNTS, mc_written / mc_skipped, and PAIR_COUNTS
    malformed: Counter[str] = field(default_factory=Counter)  # dropped_malformed by reason
    pair_malformed: Counter[str] = field(default_factory=Counter)  # two_documents_dropped_malformed by reason
    stats: GenerationStats = field(default_factory=GenerationStats)  # what the generations made now cost


def is_right(answer: str, reference: str) -> bool:
    """How the filter grades: token F1 >= 0.5, or the reference contained in the answer."""
    return f1(answer, [reference]) >= RIGHT_F1 or contains(answer, [reference]) == 1.0


def _clean(text: str) -> str:
    return " ".join(text.split()).strip()


def parse_pairs(text: str, seen: set[str] | None = None) -> tuple[list[Pair], Counter[str]]:
    """Well-formed question–answer pairs of a generation, in order, and the malformed ones counted by reason.
    `seen` (normalised questions) is shared across documents to drop repeats; it is updated."""
    seen = set() if seen is None else seen
    raw: list[tuple[str, str]] = []
    bad: Counter[str] = Counter()
    pending: str | None = None
    for line in text.splitlines():
        line = BULLET.sub("", line.replace("**", "")).strip()
        if q := Q_LINE.match(line):
            if pending is not None:
                bad["no_answer"] += 1
            question, *inline = INLINE_A.split(q.group(1), maxsplit=1)
            pending = None if inline else question
            if inline:
                raw.append((question, inline[0]))
        elif a := A_LINE.match(line):
            if pending is None:
                bad["no_question"] += 1
            else:
                raw.append((pending, a.group(1)))
                pending = None
    if pending is not None:
        bad["no_answer"] += 1
    pairs = []
    for question, answer in raw:
        question, answer = _clean(question), _clean(answer).rstrip(".").strip()
        reason = _malformed(question, answer, seen)
        if reason:
            bad[reason] += 1
        else:
            seen.add(normalise(question))
            pairs.append(Pair(question, answer))
    return pairs, bad


def _malformed(question: str, answer: str, seen: set[str]) -> str | None:
    if len(question.split()) < MIN_QUESTION_WORDS:
        return "question_too_short"
    if not normalise(answer):
        return "empty_answer"
    if len(answer.split()) > MAX_ANSWER_WORDS:
        return "answer_too_long"
    if f" {normalise(answer)} " in f" {normalise(question)} ":
        return "answer_in_question"
    if normalise(question) in seen:
        return "duplicate"
    return None


def writing_request(document: Document, n: int) -> GenerationRequest:
    """The request for N pairs about one document; the reply starts with "Q:"."""
    return GenerationRequest(context=document.text, prompt=SYNTH_PROMPT, instruction=SYNTH_INSTRUCTION.format(n=n))


def answer_request(lm: LanguageModel, context: str, question: str) -> GenerationRequest:
    """A question asked after `context` ("" for none) exactly as the evaluation of open questions will ask it
    (`evaluate_open.generation_requests`), so that the filter keeps what evaluation would grade right."""
    asked = Question(id="asked", prompt=written_question_prompt(question), answers=["?"], split="rephrase")
    (request,) = generation_requests(lm, [asked], [context])
    return request


def generate_cached(
    lm: LanguageModel, requests: Sequence[GenerationRequest], cache: GenerationCache, *, max_new_tokens: int,
    stop: tuple[str, ...], seed: int, phase: str,
) -> tuple[list[str], GenerationStats]:
    """Greedy outputs of the requests, from the cache where they were made before; the stats count what the
    generations made now cost (a rerun costs nothing)."""
    model = f"{lm.name}@{lm.fingerprint}"  # the weights, not only the name
    settings = {"max_new_tokens": max_new_tokens, "temperature": 0.0, "stop": list(stop), "seed": seed}
    keys = [cache.key(model, json.dumps([r.context, r.instruction, r.prompt]), settings) for r in requests]
    outputs = [cache.get(k) for k in keys]
    todo = [i for i, o in enumerate(outputs) if o is None]
    stats = GenerationStats()
    for start in range(0, len(todo), CHUNK):
        idx = todo[start : start + CHUNK]
        texts, made = lm.generate_requests([requests[i] for i in idx], max_new_tokens=max_new_tokens,
                                           temperature=0.0, seed=seed, stop=stop)
        cache.put_many([(keys[i], t) for i, t in zip(idx, texts, strict=True)])
        for i, t in zip(idx, texts, strict=True):
            outputs[i] = t
        stats.merge(made)
        report_progress(phase, len(requests) - len(todo) + start + len(idx), len(requests))
    return [o or "" for o in outputs], stats


def write_candidates(
    lm: LanguageModel, sources: Sequence[tuple[Document, ...]], requests: Sequence[GenerationRequest],
    per_source: int, cache: GenerationCache, *, max_new_tokens: int, seed: int, counts: Counter[str],
    malformed: Counter[str], stats: GenerationStats, seen: set[str], prefix: str = "",
) -> list[Candidate]:
    """The writer's first `per_source` well-formed pairs of each request, about its source (one document or two);
    everything else counted (count names prefixed by `prefix`). `seen` (normalised questions) is updated."""
    texts, made = generate_cached(lm, requests, cache, max_new_tokens=max_new_tokens, stop=(), seed=seed,
                                  phase="writing questions" + (" about two documents" if prefix else ""))
    stats.merge(made)
    out = []
    for source, text in zip(sources, texts, strict=True):
        # The reply continues "Q:"; a chat endpoint that cannot start the reply there may repeat the label.
        pairs, bad = parse_pairs(text if Q_LINE.match(text.lstrip()) else SYNTH_PROMPT + text, seen)
        malformed.update(bad)
        counts[prefix + "written"] += len(pairs) + bad.total()
        counts[prefix + "dropped_malformed"] += bad.total()
        counts[prefix + "dropped_extra"] += max(len(pairs) - per_source, 0)
        out.extend(Candidate(source[0], p, *source[1:]) for p in pairs[:per_source])
    return out


def filter_candidates(
    lm: LanguageModel, candidates: Sequence[Candidate], cache: GenerationCache, *, seed: int,
    counts: Counter[str], stats: GenerationStats, prefix: str = "",
) -> list[Candidate]:
    """Candidates the writer answers right with their document(s) in context, wrong without any context and, for a
    question about two documents, wrong with either one alone (count names prefixed by `prefix`)."""

    def answers(contexts: Sequence[str], questions: Sequence[str], phase: str) -> list[str]:
        texts, made = generate_cached(
            lm, [answer_request(lm, ctx, q) for ctx, q in zip(contexts, questions, strict=True)], cache,
            max_new_tokens=ANSWER_TOKENS, stop=ANSWER_STOP, seed=seed, phase=phase)
        stats.merge(made)
        return texts

    questions = [c.pair.question for c in candidates]
    with_docs = answers([build_context(list(c.documents)) for c in candidates], questions,
                        "answering with both documents" if prefix else "answering with the document")
    alone = [(i, d) for i, c in enumerate(candidates) if c.second is not None for d in c.documents]
    one_enough = {i for (i, _), a in zip(alone, answers([d.text for _, d in alone], [questions[i] for i, _ in alone],
                                                        "answering with one document of two"), strict=True)
                  if is_right(a, candidates[i].pair.answer)}
    without = answers([""] * len(candidates), questions, "answering without context")
    kept = []
    for i, (c, a_with, a_without) in enumerate(zip(candidates, with_docs, without, strict=True)):
        if not is_right(a_with, c.pair.answer):
            counts[prefix + "dropped_unanswerable"] += 1
        elif is_right(a_without, c.pair.answer):
            counts[prefix + "dropped_trivial"] += 1
        elif i in one_enough:
            counts[prefix + "dropped_one_document_enough"] += 1
        else:
            counts[prefix + "kept"] += 1
            kept.append(c)
    return kept


def answer_kind(answer: str) -> str:
    """A distractor's kind: "number" (has a digit), "name" (every word capitalised) or "phrase"."""
    if any(ch.isdigit() for ch in answer):
        return "number"
    if all(w[:1].isupper() for w in answer.split() if w.lower() not in ("of", "the", "and", "de", "von")):
        return "name"
    return "phrase"


def multiple_choice(
    questions: Sequence[Question], pool: Sequence[Candidate], k: int, seed: int, counts: Counter[str]
) -> list[Question]:
    """A K-choice version of each open question, distractors from the other documents' answers in `pool`."""
    out = []
    for q in questions:
        reference = q.references[0]
        rng = random.Random(f"{seed}-mc-{q.id}")
        others = list(dict.fromkeys(c.pair.answer for c in pool if c.document.id not in q.source_fact_ids))
        rng.shuffle(others)
        kind = answer_kind(reference)
        others.sort(key=lambda a: answer_kind(a) != kind)  # same kind first (a stable sort keeps the shuffle)
        picks: list[str] = []
        for a in others:
            if len(picks) == k - 1:
                break
            if not (is_right(a, reference) or is_right(reference, a)
                    or any(normalise(a) == normalise(p) for p in picks)):
                picks.append(a)
        if len(picks) < k - 1:
            counts["mc_skipped"] += 1
            continue
        choices = [reference, *picks]
        rng.shuffle(choices)
        out.append(Question(id=f"{q.id}-mc", prompt=q.prompt, choices=choices, answer=choices.index(reference),
                            split=MC_SPLIT, source_fact_ids=q.source_fact_ids))
        counts["mc_written"] += 1
    return out


def synthesize(
    lm: LanguageModel, dataset: Dataset, cache_path: Path, *, per_document: int = 3, choices: int | None = None,
    seed: int = 0, max_new_tokens: int | None = None, pairs: int = 0,
) -> Synthesis:
    """Questions about each document of `dataset` (and, with `pairs`, about pairs of documents), written by `lm`,
    parsed, filtered and tagged (see above)."""
    if not dataset.documents:
        raise AdaptlabError(f"{dataset.name}: has no documents to write questions about")
    if per_document < 1 or (choices is not None and choices < 2) or pairs < 0:
        raise AdaptlabError(f"per_document must be >= 1, choices >= 2 and pairs >= 0, got {per_document}, "
                            f"{choices} and {pairs}")
    result = Synthesis(questions=[])
    result.counts.update(dict.fromkeys(COUNTS, 0))
    tokens = max_new_tokens or 64 * per_document
    seen: set[str] = set()  # questions asked before, of either kind
    chosen = select_pairs(dataset.documents, pairs, seed)
    if pairs:
        result.counts.update({**dict.fromkeys(PAIR_COUNTS, 0), PAIR + "pairs": len(chosen)})
    cache = GenerationCache(cache_path)
    try:
        candidates = write_candidates(
            lm, [(d,) for d in dataset.documents], [writing_request(d, per_document) for d in dataset.documents],
            per_document, cache, max_new_tokens=tokens, seed=seed, counts=result.counts, malformed=result.malformed,
            stats=result.stats, seen=seen)
        kept = filter_candidates(lm, candidates, cache, seed=seed, counts=result.counts, stats=result.stats)
        pair_kept = []
        if chosen:
            written = write_candidates(
                lm, [p.documents for p in chosen], [pair_writing_request(p, per_document) for p in chosen],
                per_document, cache, max_new_tokens=tokens, seed=seed, counts=result.counts,
                malformed=result.pair_malformed, stats=result.stats, seen=seen, prefix=PAIR)
            pair_kept = filter_candidates(lm, written, cache, seed=seed, counts=result.counts, stats=result.stats,
                                          prefix=PAIR)
    finally:
        cache.close()
    numbers: Counter[str] = Counter()
    for c in kept:
        numbers[c.document.id] += 1
        result.questions.append(Question(
            id=f"{c.document.id}-q{numbers[c.document.id]}", prompt=written_question_prompt(c.pair.question),
            answers=[c.pair.answer], split=SPLIT, source_fact_ids=[c.document.id]))
    if choices is not None:
        result.questions += multiple_choice(list(result.questions), candidates, choices, seed, result.counts)
    for c in pair_kept:  # ids end in "-p<n>", one-document questions' in "-q<n>" or "-mc": never the same
        key = "+".join(d.id for d in c.documents)
        numbers[key] += 1
        result.questions.append(Question(
            id=f"{key}-p{numbers[key]}", prompt=written_question_prompt(c.pair.question), answers=[c.pair.answer],
            split=PAIR_SPLIT, source_fact_ids=[d.id for d in c.documents]))
    return result


def summary(counts: Counter[str]) -> str:
    """The counts as one line: "12 written: 7 kept, 2 malformed, ..."; then, with pairs of documents, theirs."""
    parts = [f"{counts[c]} {c.removeprefix('dropped_')}" for c in COUNTS[1:] if c != "kept"]
    line = f"{counts['written']} written: {counts['kept']} kept, " + ", ".join(parts)
    if counts["mc_written"] or counts["mc_skipped"]:
        line += f"; {counts['mc_written']} multiple-choice versions ({counts['mc_skipped']} without enough distractors)"
    if PAIR + "pairs" in counts:
        n = counts[PAIR + "pairs"]
        parts = [f"{counts[c]} {c.removeprefix(PAIR + 'dropped_').replace('_', ' ')}" for c in PAIR_COUNTS[2:-1]]
        line += (f"; two documents ({n} pair{'' if n == 1 else 's'}): {counts[PAIR + 'written']} written: "
                 f"{counts[PAIR + 'kept']} kept, " + ", ".join(parts))
    return line


def synthesize_dataset(
    lm: LanguageModel, source: Dataset, out: Path, cache_path: Path | None = None, *, writer: str,
    per_document: int = 3, choices: int | None = None, seed: int = 0, max_new_tokens: int | None = None,
    pairs: int = 0, force: bool = False,
) -> tuple[Manifest, Synthesis]:
    """Write `source`'s documents and the questions `lm` (loaded from the spec `writer`) wrote about them into the
    dataset folder `out`, with `synthesis.json` (every count) beside the manifest. `out` is checked before any
    generation, like `data make` does it; when no question survives, nothing is written (a one-line error). The
    cache defaults to `generations.sqlite` in adaptlab's cache folder."""
    if not force:
        check_overwrite(out)
    fresh = not out.exists()
    writable_dir(out)
    try:
        cache_path = cache_path or cache_dir() / "generations.sqlite"
        result = synthesize(lm, source, cache_path, per_document=per_document, choices=choices, seed=seed,
                            max_new_tokens=max_new_tokens, pairs=pairs)
        if not result.questions:
            raise AdaptlabError(f"no question survived ({summary(result.counts)}); nothing written to {out}")
    except BaseException:
        if fresh and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    params: dict[str, int | float | str | bool] = {
        "source_dataset": source.name, "source_digest": source.digest(), "writer_model": writer,
        "writer_fingerprint": model_fingerprint(writer), "per_document": per_document, "choices": choices or 0,
        "max_new_tokens": max_new_tokens or 64 * per_document, "pairs": pairs,
        **{c: result.counts[c] for c in COUNTS + (PAIR_COUNTS if pairs else ())},
    }
    generated = Generated(documents=source.documents, questions=result.questions, oracle=source.oracle,
                          params=params)
    description = (f"Open questions about the documents of {source.name}, written by {writer} and kept when it "
                   "answers them with their document and not without it"
                   + (", and questions that need two of them (split two_documents)." if pairs else "."))
    manifest = write_dataset(out, f"{source.name}-synthesized", SYNTH_VERSION, seed, generated, description)
    detail = {"counts": dict(sorted(result.counts.items())), "malformed": dict(sorted(result.malformed.items())),
              **({"two_documents_malformed": dict(sorted(result.pair_malformed.items()))} if pairs else {}),
              "grading": f"right = token F1 >= {RIGHT_F1} or the reference contained in the answer",
              "generated_now": {"prompts": result.stats.prompts, "tokens_prefilled": result.stats.tokens_prefilled,
                                "tokens_generated": result.stats.tokens_generated,
                                "dollars": result.stats.dollars},
              **{k: v for k, v in params.items() if k not in COUNTS + PAIR_COUNTS}}
    (out / SYNTHESIS_FILE).write_text(json.dumps(detail, indent=2, ensure_ascii=False) + "\n")
    load_dataset(out)  # what was written loads and validates
    return manifest, result
