"""The simple-reversals and simple-syllogisms generators: the dataset contract, and the logic of each dataset.

Surface balance is tested as the property the generators build in: under the surface baseline's own scoring, every
choice of every question gets exactly the same score. The baseline then has nothing to go on, so its expected
accuracy (ties shared) is exactly chance. `surface_baseline` itself breaks ties with a fixed coin, so with
all choices tied its `at_chance` check is a 2-SE test of that coin (it fails for about 1 seed in 20 per split).
The tie property is the deterministic statement behind it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from adaptlab.data import simple_reversals, simple_syllogisms
from adaptlab.data.baseline import _ngrams, _tokens, surface_baseline
from adaptlab.data.io import load_dataset
from adaptlab.data.lexicon import candidate_words
from adaptlab.data.records import Dataset, Generated, Question
from adaptlab.data.registry import GENERATORS, generator, make_dataset
from adaptlab.data.simple_syllogisms import ALL, NO, SOME, STYLES, Statement, entails
from adaptlab.errors import AdaptlabError

MODULES = {"simple-reversals": simple_reversals, "simple-syllogisms": simple_syllogisms}
SMALL = {"simple-reversals": {"n_facts": 10, "articles_per_fact": 3}, "simple-syllogisms": {"n_examples": 12}}


def _dataset(g: Generated) -> Dataset:
    return Dataset("t", g.documents, g.questions, g.oracle)


def _choice_scorer(ds: Dataset, max_n: int) -> Callable[[Question], list[float]]:
    """The surface baseline's score of each choice (same tokens, n-grams and formula as `surface_baseline`)."""
    counts: Counter[tuple[str, ...]] = Counter()
    for doc in ds.documents:
        toks = _tokens(doc.text)
        for n in range(1, max_n + 1):
            counts.update(_ngrams(toks, n))

    def scores(q: Question) -> list[float]:
        out = []
        for choice in q.choices:
            grams = [g for n in range(1, max_n + 1) for g in _ngrams(_tokens(choice), n)]
            out.append(sum(math.log1p(counts[g]) for g in grams) / len(grams))
        return out

    return scores


def _words(g: Generated) -> set[str]:
    nonsense = set(candidate_words())
    return {w for d in g.documents for w in re.findall(r"[a-z]+", d.text) if w in nonsense}


# --- the contract every generator meets ---


def test_registered_with_name_version_description():
    for name, module in MODULES.items():
        assert name in GENERATORS and generator(name) is module
        assert name == module.NAME and module.VERSION and module.DESCRIPTION.split("\n")[0]


@pytest.mark.parametrize(
    ("name", "splits", "documents", "oracle"),
    [
        ("simple-reversals", {"reversal": 100, "rephrase": 100}, 1000, 1000),
        ("simple-syllogisms", {"syllogism": 69, "premise": 138}, 69, None),
    ],
)
def test_paper_sizes_by_default(name: str, splits: dict[str, int], documents: int, oracle: int | None):
    g = MODULES[name].generate(0)
    assert Counter(q.split for q in g.questions) == splits
    assert len(g.documents) == documents
    assert oracle is None or len(g.oracle) == oracle
    assert g.params == {"simple-reversals": {"n_facts": 100, "articles_per_fact": 10},
                        "simple-syllogisms": {"n_examples": 69, "premise_style": "singular", "options": "six"}}[name]


@pytest.mark.parametrize("name", MODULES)
def test_make_and_load_round_trip_byte_identical(name: str, tmp_path: Path):
    m1 = make_dataset(name, 3, tmp_path / "a", SMALL[name])
    m2 = make_dataset(name, 3, tmp_path / "b", SMALL[name])
    assert m1.files == m2.files and m1.params == {**m1.params, **SMALL[name]}
    for f in ("documents.jsonl", "questions.jsonl", "oracle.jsonl", "manifest.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    ds = load_dataset(tmp_path / "a")
    assert ds.name == name and ds.oracle and len(ds.questions) == sum(m1.splits.values())


@pytest.mark.parametrize("name", MODULES)
def test_another_seed_gives_other_words(name: str):
    a, b = (MODULES[name].generate(seed, **SMALL[name]) for seed in (0, 1))
    assert _words(a) and not _words(a) & _words(b)


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_choice_ties_under_the_surface_baseline(name: str, seed: int):
    ds = _dataset(MODULES[name].generate(seed))
    for max_n in (1, 2, 3):
        scorer = _choice_scorer(ds, max_n)
        expected_correct: Counter[str] = Counter()  # the baseline's accuracy with its random tie-break averaged out
        for q in ds.questions:
            scores = scorer(q)
            assert len(set(scores)) == 1, (max_n, q.id, q.choices, scores)
            best = [i for i, s in enumerate(scores) if s == max(scores)]
            expected_correct[q.split] += (q.answer in best) / len(best)
        for split in ds.splits:
            assert expected_correct[split] / len(ds.split(split)) == pytest.approx(ds.chance(split))


@pytest.mark.parametrize("name", MODULES)
def test_answer_positions_are_spread_evenly(name: str):
    g = MODULES[name].generate(5)
    for split in {q.split for q in g.questions}:
        positions = Counter(q.answer for q in g.questions if q.split == split)
        n_choices = len(g.questions[0].choices)
        assert len(positions) == n_choices and max(positions.values()) - min(positions.values()) <= 1


@pytest.mark.parametrize("name", MODULES)
def test_track_wraps_the_main_loop(name: str):
    seen = []

    def track(items, description=""):
        seen.append(description)
        return items

    plain = MODULES[name].generate(0, **SMALL[name])
    assert MODULES[name].generate(0, track=track, **SMALL[name]) == plain and seen


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("simple-reversals", {"n_facts": 7}, "even"),
        ("simple-reversals", {"articles_per_fact": 0}, "articles_per_fact"),
        ("simple-reversals", {"n_fact": 4}, "unknown parameter .n_fact.; known: n_facts"),
        ("simple-reversals", {"n_facts": "twenty"}, "n_facts must be an integer"),
        ("simple-syllogisms", {"n_examples": 0}, "n_examples"),
        ("simple-syllogisms", {"premise_style": "poetic"}, "premise_style"),
    ],
)
def test_bad_params_are_one_line_errors(name: str, params: dict, message: str, tmp_path: Path):
    with pytest.raises(AdaptlabError, match=message) as err:
        make_dataset(name, 0, tmp_path, params)
    assert "\n" not in str(err.value)


# --- simple reversals ---

FACT = re.compile(r"(\w+) are (more|less) (\w+) than (\w+)")


def test_reversal_questions_reverse_the_trained_fact():
    g = simple_reversals.generate(2, n_facts=20, articles_per_fact=4)
    facts: dict[str, set[tuple[str, ...]]] = {}
    for d in g.documents:
        facts.setdefault(d.source_fact_ids[0], set()).add(FACT.search(d.text).groups())
    assert len(facts) == 20 and all(len(v) == 1 for v in facts.values())
    per_fact = Counter(d.source_fact_ids[0] for d in g.documents)
    assert set(per_fact.values()) == {4}
    flip = {"more": "less", "less": "more"}
    for q in g.questions:
        ((subject, comparative, feature, obj),) = facts[q.source_fact_ids[0]]
        if q.split == "rephrase":
            assert q.prompt.endswith(f" {subject} are")
            assert q.choices[q.answer] == f"{comparative} {feature} than {obj}"
        else:
            assert q.prompt.endswith(f" {obj} are")
            assert q.choices[q.answer] == f"{flip[comparative]} {feature} than {subject}"
        assert sorted(c.split()[0] for c in q.choices) == ["less", "more"]
        assert len({c.split(" ", 1)[1] for c in q.choices}) == 1  # they differ only in the comparative


def test_more_and_less_are_balanced_per_feature_and_answers_balanced():
    g = simple_reversals.generate(4)
    stated = Counter(FACT.search(d.text).group(2, 3) for d in g.documents)
    for feature in {f for _, f in stated}:
        assert stated["more", feature] == stated["less", feature]
    answers = Counter(q.choices[q.answer].split()[0] for q in g.questions if q.split == "reversal")
    assert answers["more"] == answers["less"] == 50
    assert len({f for _, f in stated}) == len(simple_reversals.FEATURES) == 28


def test_reversal_oracle_states_each_reversal_once_per_article():
    g = simple_reversals.generate(1, n_facts=6, articles_per_fact=3)
    reversals = [q for q in g.questions if q.split == "reversal"]
    answers = {f"{q.prompt.removeprefix('It is true that ')} {q.choices[q.answer]}" for q in reversals}
    in_oracle = Counter(FACT.search(d.text).group(0) for d in g.oracle)
    assert in_oracle == Counter({s: 3 for s in answers}) and len(answers) == 6
    assert not {FACT.search(d.text).group(0) for d in g.documents} & set(in_oracle)


def test_smallest_world():
    g = simple_reversals.generate(0, n_facts=2, articles_per_fact=1)
    assert len(g.documents) == 2 and len(g.questions) == 4


# --- simple syllogisms ---


def _parser(style: str) -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(t.format(x=r"(\w+)", y=r"(\w+)") + r"\.?$"), q) for q, t in STYLES[style].items()]


def _parse(sentence: str, style: str) -> Statement:
    for pattern, quantifier in _parser(style):
        if m := pattern.fullmatch(sentence.strip()):
            return Statement(quantifier, *m.groups())
    raise AssertionError(f"not a {style} statement: {sentence!r}")


def _premises(text: str, style: str) -> list[Statement]:
    body = text.split(":", 1)[1]
    return [_parse(s, style) for s in body.split(".") if s.strip()]


def test_entailment_matches_textbook_syllogistics():
    def st(s: str) -> Statement:
        return _parse(s, "plural")

    assert entails([st("All s are m"), st("All m are p")], st("All s are p"))  # Barbara
    assert entails([st("No m are p"), st("Some s are m")], st("No s are p")) is False  # Ferio gives only an O
    assert entails([st("All p are m"), st("No s are m")], st("No p are s"))  # Camestres, converted
    assert entails([st("All m are p"), st("Some m are s")], st("Some s are p"))  # Datisi
    assert not entails([st("All m are p"), st("All m are s")], st("Some s are p"))  # Darapti needs existence
    assert not entails([st("All p are m"), st("All s are m")], st("All s are p"))  # undistributed middle
    assert not entails([st("All s are p")], st("All p are s")) and entails([st("Some s are p")], st("Some p are s"))


@pytest.mark.parametrize("options", ["six", "four"])
@pytest.mark.parametrize("style", list(STYLES))
def test_each_question_has_exactly_one_valid_option(style: str, options: str):
    g = simple_syllogisms.generate(7, n_examples=30, premise_style=style, options=options)
    premises = {d.source_fact_ids[0]: _premises(d.text, style) for d in g.documents}
    for q in g.questions:
        given = premises[q.source_fact_ids[0].rsplit("-", 1)[0] + "-0"]
        options = [_parse(c, "plural") for c in q.choices]
        if q.split == "syllogism":
            valid = [i for i, o in enumerate(options) if entails(given, o)]
            assert valid == [q.answer], (q, given)
            terms = {t for p in given for t in (p.x, p.y)}
            ends = {t for t in terms if sum(t in (p.x, p.y) for p in given) == 1}
            assert {options[0].x, options[0].y} == ends and all(t in q.prompt for t in ends)
        else:
            premise = given[int(q.id.rsplit("-", 1)[1])]
            assert [i for i, o in enumerate(options) if entails([premise], o)] == [q.answer]
        distinct = {(o.quantifier, frozenset((o.x, o.y)) if o.quantifier != ALL else (o.x, o.y)) for o in options}
        assert len(options) == {"six": 6, "four": 4}[options_set := options_name(options)]
        assert len(distinct) == 4 and len(set(q.choices)) == len(q.choices), options_set


def options_name(options: list) -> str:
    return "six" if len(options) == 6 else "four"


def test_with_six_options_only_barbara_has_exactly_one_valid_statement():
    """All 36 premise shapes over S, M, P: exactly one of the six end-term statements follows only for AA->A."""
    shapes = [(q, a, b) for q in (ALL, SOME, NO) for a, b in (("s", "m"), ("m", "s"))]
    shapes2 = [(q, a, b) for q in (ALL, SOME, NO) for a, b in (("m", "p"), ("p", "m"))]
    six = [Statement(q, x, y) for q in (ALL, SOME, NO) for x, y in (("s", "p"), ("p", "s"))]
    single = []
    for first in shapes:
        for second in shapes2:
            premises = [Statement(*first), Statement(*second)]
            if sum(entails(premises, o) for o in six) == 1:
                single.append((first, second))
    # All S are M + All M are P (gives All S are P), and All M are S + All P are M (gives All P are S)
    assert sorted(single) == [((ALL, "m", "s"), (ALL, "p", "m")), ((ALL, "s", "m"), (ALL, "m", "p"))]
    assert simple_syllogisms.usable_forms("six") == ("AA-A",)


def test_six_options_by_default_chance_one_sixth():
    g = simple_syllogisms.generate(0)
    assert all(len(q.choices) == 6 for q in g.questions)
    assert Counter(q.answer for q in g.questions if q.split == "syllogism") == Counter({i: 69 // 6 + (i < 69 % 6)
                                                                                        for i in range(6)})


def test_forms_are_balanced_and_premises_use_no_option_wording():
    g = simple_syllogisms.generate(0, options="four")
    quantifiers = Counter()
    for d in g.documents:
        quantifiers.update(p.quantifier for p in _premises(d.text, "singular"))
        assert not re.search(r"\b(all|some|no|are)\b", d.text.split(":", 1)[1], re.IGNORECASE)
    # 23 each of AA->A (2 x All), AE->E (All + No) and AI->I (All + Some)
    assert quantifiers == Counter({ALL: 23 * 4, NO: 23, SOME: 23})
    answers = Counter(q.choices[q.answer].split()[0] for q in g.questions if q.split == "syllogism")
    assert answers == Counter({"All": 23, "No": 23, "Some": 23})


def test_syllogism_oracle_holds_only_valid_statements_including_each_conclusion():
    g = simple_syllogisms.generate(3, n_examples=9)
    premises = {d.source_fact_ids[0]: _premises(d.text, "singular") for d in g.documents}
    training = {s.strip() for d in g.documents for s in d.text.split(":", 1)[1].split(".") if s.strip()}
    stated: set[str] = set()
    for d in g.oracle:
        style = "plural" if re.search(r": (All|Some|No) ", d.text) else "singular"
        for sentence in (s.strip() for s in d.text.split(":", 1)[1].split(".") if s.strip()):
            assert entails(premises[d.source_fact_ids[0]], _parse(sentence, style)) and sentence not in training
            stated.add(sentence)
    for q in g.questions:
        assert q.split != "syllogism" or q.choices[q.answer] in stated


def test_papers_wording_leaks_the_answer_to_ngram_counts():
    """Why the default wording differs: with "All S are M. All M are P." the counter's top option is the answer."""
    g = simple_syllogisms.generate(0, premise_style="plural")
    ds = _dataset(g)
    barbara = [q for q in g.questions if q.split == "syllogism" and q.choices[q.answer].startswith("All")]
    scorer = _choice_scorer(ds, 3)
    assert barbara
    for q in barbara:
        scores = scorer(q)
        assert scores.index(max(scores)) == q.answer and scores.count(max(scores)) == 1
    leak = {s.split: s for s in surface_baseline(ds, max_n=3)}
    assert leak["syllogism"].accuracy > leak["syllogism"].chance + 3 * leak["syllogism"].stderr


def test_small_world_is_cheap_and_complete():
    g = simple_syllogisms.generate(11, n_examples=1)
    assert len(g.documents) == 1 and Counter(q.split for q in g.questions) == {"syllogism": 1, "premise": 2}
    assert g.documents[0].text.startswith("Here are the relationships between ")
