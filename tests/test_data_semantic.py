"""The semantic-structure generator: sizes, coverage, what training never says, false distractors, and a surface
baseline at chance on every split (seeds 0 and 1, n-grams up to 1 and 3)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from adaptlab.data import semantic as S
from adaptlab.data.baseline import surface_baseline
from adaptlab.data.io import load_dataset
from adaptlab.data.records import Dataset, Question
from adaptlab.data.registry import make_dataset
from adaptlab.errors import AdaptlabError

TOKEN = re.compile(r"[a-z0-9]+")
SPLITS = ["rephrase", "reversal", "syllogism", "category_holdout"]


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def sentences(text: str) -> Iterator[str]:
    for line in text.splitlines():
        yield from (s for s in re.split(r"(?<=[.?!])\s+", line) if s.strip())


def parse_fact(fact_id: str) -> tuple[str, str, str]:
    kind, subject, obj = fact_id.split(":")
    return kind, subject, obj


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    out = {}
    for seed in (0, 1):
        folder = tmp_path_factory.mktemp(f"semantic{seed}")
        make_dataset("semantic", seed, folder)
        out[seed] = folder
    return out


@pytest.fixture(scope="module")
def ds0(made: dict[int, Path]) -> Dataset:
    return load_dataset(made[0])


@pytest.fixture(scope="module")
def index0(ds0: Dataset) -> dict[str, set[int]]:
    """Token -> ids of the training sentences that contain it."""
    return sentence_index(ds0)


def sentence_index(ds: Dataset) -> dict[str, set[int]]:
    index: dict[str, set[int]] = {}
    for i, sent in enumerate(all_sentences(ds)):
        for tok in tokens(sent):
            index.setdefault(tok, set()).add(i)
    return index


def all_sentences(ds: Dataset) -> list[str]:
    return [s for d in ds.documents for s in sentences(d.text)]


class English:
    """Reads a seed's nonsense words back into the English world, to judge questions against it."""

    def __init__(self, seed: int):
        self.back = {w: key for key, w in S.vocabulary(seed).items()}
        self.world = S.WORLD

    def cat(self, word: str) -> str:
        kind, name = self.back[word]
        assert kind == "cat", word
        return name

    def prop(self, word: str) -> str:
        return self.back[word][1]

    def up(self, c: str) -> list[str]:
        return [c, *self.world.ancestors(c)]

    def props(self, c: str, kind: str) -> set[str]:
        return {n for x in self.up(c) for k, n in self.world.props[x] if k == kind}

    def objects(self, c: str, kind: str) -> set[str]:
        return {r.obj for r in self.world.relations if r.kind == kind and r.subject in self.up(c)}

    def true_forward(self, kind: str, subject: str, word: str) -> bool:
        """Is "subject <kind> word" true, or true of something it could be confused with?"""
        if kind == "isa":
            return self.cat(word) in self.world.lineage(subject)
        if kind in S.PROPERTY_KINDS:
            return self.prop(word) in self.props(subject, kind)
        return any(self.cat(word) in self.world.lineage(o) for o in self.objects(subject, kind))

    def true_reverse(self, kind: str, obj_word: str, word: str) -> bool:
        """Is "word <kind> obj" true (the reversed question's statement)?"""
        c = self.cat(word)
        if kind == "isa":
            return self.cat(obj_word) in self.world.ancestors(c)
        if kind in S.PROPERTY_KINDS:
            return self.prop(obj_word) in self.props(c, kind)
        return any(self.cat(obj_word) in self.world.lineage(o) for o in self.objects(c, kind))


def reading(q: Question) -> tuple[str, str, str, str]:
    """(direction, kind, fixed word, asked) of a question: forward asks the object of a subject, reverse the
    subject of an object; the fixed word is the subject (forward) or the object (reverse)."""
    facts = [parse_fact(f) for f in q.source_fact_ids]
    if q.split == "reversal" or q.id.startswith("category_holdout-reversal"):
        kind, _, obj = facts[-1]
        return "reverse", kind, obj, q.choices[q.answer]
    return "forward", facts[-1][0], facts[0][1], q.choices[q.answer]


# --- the world and the parameters ----------------------------------------------------------------------------------
def test_world_constant_is_the_papers_size():
    world = S.WORLD
    assert len(world.categories) == 110
    assert all(1 <= len(world.props[c]) <= 6 for c in world.categories)
    assert {r.kind for r in world.relations} == set(S.RELATION_KINDS)
    assert world.ancestors("dog") == ["carnivore", "mammal", "animal", "organism"]


def test_bad_parameters_fail_with_one_line(tmp_path: Path):
    with pytest.raises(AdaptlabError, match="n_choices"):
        S.generate(0, n_choices=1)
    with pytest.raises(AdaptlabError, match="unstated"):
        S.generate(0, n_documents=5)
    with pytest.raises(AdaptlabError, match="no 4-choice question"):
        S.generate(0, n_categories=3, n_holdout=0, n_documents=10)
    with pytest.raises(AdaptlabError, match="unknown parameter"):
        make_dataset("semantic", 0, tmp_path, {"n_docs": 3})


# --- sizes -----------------------------------------------------------------------------------------------------
def test_counts_and_sentence_lengths(ds0: Dataset):
    assert len(ds0.documents) == 2200
    lengths = [S.count_sentences(d.text) for d in ds0.documents]
    assert min(lengths) >= 4 and max(lengths) <= 20
    counts = Counter(q.split for q in ds0.questions)
    assert ds0.splits == SPLITS
    assert counts["rephrase"] == counts["reversal"] == counts["syllogism"] == 300
    assert 100 <= counts["category_holdout"] < 200
    assert all(len(q.choices) == 4 for q in ds0.questions)
    assert all(ds0.chance(s) == 0.25 for s in SPLITS)
    assert ds0.manifest is not None and ds0.manifest.params["n_documents"] == 2200
    qa = [d for d in ds0.documents if d.text.startswith("Q: ")]
    assert 0.1 < len(qa) / 2200 < 0.2


def test_every_subtype_is_present(ds0: Dataset):
    subtypes = {q.id.rsplit("-", 1)[0] for q in ds0.questions}
    for kind in S.KINDS:
        assert {f"rephrase-{kind}", f"reversal-{kind}"} <= subtypes
    assert {f"syllogism-{s}" for s in ("property", "long", "relation", "isa")} <= subtypes
    assert {f"category_holdout-{s}" for s in ("reversal", "isa", "property", "relation")} <= subtypes


def test_choices_are_single_nonsense_words_at_balanced_positions(ds0: Dataset):
    words = set(S.vocabulary(0).values())
    for q in ds0.questions:
        assert all(c in words for c in q.choices), q
    for split in SPLITS:
        positions = Counter(q.answer for q in ds0.split(split))
        assert max(positions.values()) - min(positions.values()) <= 1


# --- coverage and what training never says ---------------------------------------------------------------------------
def test_every_fact_a_question_needs_is_stated_in_a_document(ds0: Dataset):
    stated = {f for d in ds0.documents for f in d.source_fact_ids}
    needed = {f for q in ds0.questions for f in q.source_fact_ids}
    assert needed <= stated
    for doc in ds0.documents:  # and a listed fact really is a sentence of its document, subject first
        toks = [tokens(s) for s in sentences(doc.text)]
        for fact in doc.source_fact_ids:
            _, subject, obj = parse_fact(fact)
            assert any(subject in t and obj in t[t.index(subject) + 1:] for t in toks), (fact, doc.text)


def test_test_frames_never_occur_in_training(ds0: Dataset):
    text = "\n".join(d.text for d in ds0.documents).lower()
    for frames in (*S.REPHRASE.values(), *S.REVERSE.values()):
        for frame in frames:
            literal = max(re.split(r"\{[so]\}", frame), key=len).strip().lower()
            assert re.search(rf"\b{re.escape(literal)}\b", text) is None, frame
    for q in ds0.questions:
        if q.split in ("rephrase", "reversal"):
            assert q.prompt.lower() not in text, q.prompt


def test_reversals_are_only_ever_trained_forward(ds0: Dataset, index0: dict[str, set[int]]):
    sents = all_sentences(ds0)
    checked = 0
    for q in ds0.questions:
        direction, _, obj, subject = reading(q)
        if direction != "reverse":
            continue
        for i in index0.get(subject, set()) & index0.get(obj, set()):
            toks = tokens(sents[i])
            assert toks.index(subject) < toks.index(obj), sents[i]
            checked += 1
    assert checked > 1000


def test_deduced_conclusions_never_share_a_training_sentence(ds0: Dataset, index0: dict[str, set[int]]):
    for q in ds0.questions:
        direction, _, subject, answer = reading(q)
        if q.split in ("syllogism", "category_holdout") and direction == "forward":
            assert not index0[subject] & index0[answer], q


def test_held_out_categories_are_taught_only_their_parent(ds0: Dataset, index0: dict[str, set[int]]):
    sents = all_sentences(ds0)
    links = [parse_fact(q.source_fact_ids[0]) for q in ds0.split("category_holdout") if "-reversal-" in q.id]
    assert len(links) == 10
    for _, held, parent in links:
        facts = {f for d in ds0.documents for f in d.source_fact_ids if held in parse_fact(f)}
        assert facts == {f"isa:{held}:{parent}"}
        for i in index0[held]:  # every sentence naming it states its parent link (or is a QA question on it)
            toks = tokens(sents[i])
            assert sents[i].startswith("Q: ") or parent in toks[toks.index(held) + 1:], sents[i]
        assert len(index0[held]) >= 1


def test_no_english_world_word_appears_in_the_output(ds0: Dataset):
    english = {t for c in S.WORLD.categories for t in tokens(c)}
    english |= {t for c in S.WORLD.categories for _, name in S.WORLD.props[c] for t in tokens(name)}
    texts = [d.text for d in [*ds0.documents, *ds0.oracle]] + [q.prompt for q in ds0.questions]
    used = {t for text in texts for t in tokens(text)}
    assert not english & used, sorted(english & used)


# --- answers true, distractors false and hard --------------------------------------------------------------------
def test_answers_are_true_and_distractors_false_in_the_english_world(ds0: Dataset):
    en = English(0)
    for q in ds0.questions:
        direction, kind, fixed, answer = reading(q)
        distractors = [c for i, c in enumerate(q.choices) if i != q.answer]
        if direction == "forward":
            subject = en.cat(fixed)
            assert en.true_forward(kind, subject, answer), q
            assert not any(en.true_forward(kind, subject, d) for d in distractors), q
        else:
            assert en.true_reverse(kind, fixed, answer), q
            assert not any(en.true_reverse(kind, fixed, d) for d in distractors), q


def test_distractors_stand_in_the_tested_relation_to_something_else(ds0: Dataset):
    en = English(0)
    vocab = S.vocabulary(0)
    trained = [parse_fact(f) for d in ds0.documents for f in d.source_fact_ids]
    objects = {(k, o) for k, _, o in trained}
    subjects = {(k, s) for k, s, _ in trained}
    for q in ds0.questions:
        direction, kind, _, _ = reading(q)
        for i, d in enumerate(q.choices):
            if i == q.answer:
                continue
            if direction == "forward":
                assert (kind, d) in objects, (q, d)
            else:  # the distractor, or a category it inherits from, is the subject of such a fact
                assert any((kind, vocab[("cat", a)]) in subjects for a in en.up(en.cat(d))), (q, d)


# --- the surface baseline ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("max_n", [1, 3])
def test_surface_baseline_is_at_chance_on_every_split(made: dict[int, Path], seed: int, max_n: int):
    ds = load_dataset(made[seed])
    scores = surface_baseline(ds, max_n=max_n)
    assert [s.split for s in scores] == SPLITS
    for s in scores:
        assert s.at_chance, s
        assert abs(s.accuracy - 0.25) < 0.02, s  # by construction: exact up to rounding


def test_answer_frequency_rank_is_uniform(ds0: Dataset):
    counts = S.word_counts(ds0.documents)
    for split in SPLITS:
        ranks = Counter()
        for q in ds0.split(split):
            c = counts[q.choices[q.answer]]
            others = [counts[w] for i, w in enumerate(q.choices) if i != q.answer]
            assert c not in others  # strict: no ties with the answer
            ranks[sum(o > c for o in others)] += 1
        n = len(ds0.split(split))
        assert all(abs(ranks[t] / n - 0.25) < 0.02 for t in range(4)), (split, ranks)


# --- oracle ------------------------------------------------------------------------------------------------------
def test_oracle_states_every_tested_inference(ds0: Dataset):
    oracle_text = " ".join(d.text for d in ds0.oracle)
    oracle_facts = {f for d in ds0.oracle for f in d.source_fact_ids}
    for q in ds0.questions:
        direction, kind, fixed, answer = reading(q)
        if q.split == "rephrase":
            continue
        if direction == "forward":
            assert f"{q.prompt} {answer}." in oracle_text, q
        else:
            assert f"{kind}:{answer}:{fixed}" in oracle_facts, q
    assert all(S.count_sentences(d.text) <= 20 for d in ds0.oracle)


# --- determinism, seeds, small worlds ------------------------------------------------------------------------------
def test_same_seed_gives_byte_identical_files(made: dict[int, Path], tmp_path: Path):
    make_dataset("semantic", 0, tmp_path)
    for name in ("documents.jsonl", "questions.jsonl", "oracle.jsonl", "manifest.json"):
        assert (tmp_path / name).read_bytes() == (made[0] / name).read_bytes(), name


def test_another_seed_gives_other_words(made: dict[int, Path]):
    words = []
    for seed in (0, 1):
        ds = load_dataset(made[seed])
        words.append({t for d in ds.documents for f in d.source_fact_ids for t in parse_fact(f)[1:]})
    assert len(words[0] & words[1]) < 0.15 * len(words[0])


@pytest.mark.parametrize(
    "params", [{"n_documents": 50}, {"n_documents": 50, "n_categories": 20, "n_holdout": 3}, {"n_categories": 8}]
)
def test_small_worlds(params: dict[str, int]):
    g = S.generate(3, **params)
    assert len(g.documents) == params.get("n_documents", 2200)
    assert all(4 <= S.count_sentences(d.text) <= 20 for d in g.documents)
    stated = {f for d in g.documents for f in d.source_fact_ids}
    assert {f for q in g.questions for f in q.source_fact_ids} <= stated
    assert {q.split for q in g.questions} == set(SPLITS)
    assert g.params == {**g.params, **params}
    subjects = {parse_fact(f)[1] for f in stated}  # every kept category is the subject of a stated fact
    assert len(subjects) == params.get("n_categories", 110)
