"""The simple-reversals and simple-syllogisms generators: the dataset contract, and the logic of each dataset.

Surface balance is tested as the property the generators build in: under the surface baseline's own scoring, every
choice of a question gets the same score as every other choice of the same form (in simple-reversals all choices
tie; in simple-syllogisms the five-word "Some X are not Y" scores below the four-word statements). The baseline is
then at most a fixed preference for a form, and the forms are balanced so that any such preference stays at
chance (`form_baseline`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from adaptlab.data import simple_reversals, simple_syllogisms
from adaptlab.data.baseline import _ngrams, _tokens, choice_forms, form_baseline, surface_baseline
from adaptlab.data.io import load_dataset
from adaptlab.data.lexicon import candidate_words
from adaptlab.data.records import Dataset, Generated, Question
from adaptlab.data.registry import GENERATORS, generator, make_dataset
from adaptlab.data.simple_syllogisms import ALL, NO, SOME, SOME_NOT, STYLES, Statement, entails
from adaptlab.errors import AdaptlabError
from conftest import as_dataset

MODULES = {"simple-reversals": simple_reversals, "simple-syllogisms": simple_syllogisms}
SMALL = {"simple-reversals": {"n_facts": 10, "articles_per_fact": 3}, "simple-syllogisms": {"n_examples": 12}}


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
        ("simple-syllogisms", {"syllogism": 69, "premise": 69}, 69, None),
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
def test_choices_of_one_form_tie_under_the_surface_baseline(name: str, seed: int):
    ds = as_dataset(MODULES[name].generate(seed), name)
    for max_n in (1, 2, 3):
        scorer = _choice_scorer(ds, max_n)
        for q in ds.questions:
            by_form: dict[str, set[float]] = {}
            for form, score in zip(choice_forms(q), scorer(q), strict=True):
                by_form.setdefault(re.sub(r"_\d", "_", form), set()).add(score)  # either direction
            assert all(len(scores) == 1 for scores in by_form.values()), (max_n, q.id, q.choices, by_form)
            if name == "simple-reversals":
                assert len(set(scorer(q))) == 1
        assert all(s.at_chance for s in surface_baseline(ds, max_n=max_n)), max_n


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("seed", [0, 1])
def test_no_preference_for_a_form_beats_chance(name: str, seed: int):
    for kwargs in ({}, {"options": "four"}) if name == "simple-syllogisms" else ({},):
        for score in form_baseline(as_dataset(MODULES[name].generate(seed, **kwargs), name)):
            assert score.at_chance, (kwargs, score)


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



def _placed(q: Question) -> Question:
    """The question with each choice tagged with its position, so that a form of choice is a form in a place."""
    return q.model_copy(update={"choices": [f"{i} {c}" for i, c in enumerate(q.choices)]})


@pytest.mark.parametrize(("seed", "params"), [*((s, {"n_facts": 16, "articles_per_fact": 3}) for s in range(10)),
                                              (0, {}), (3, {"n_facts": 10, "articles_per_fact": 1}),
                                              (1, {"n_facts": 2, "articles_per_fact": 1})])
def test_any_fixed_preference_for_form_and_position_scores_exactly_chance_in_every_world(seed: int, params: dict):
    """The demo's ten worlds, the paper's size, and worlds of an odd number of pairs: in every split, each order of
    forms the questions show ("more careful than _" then "less careful than _") has its answer first exactly as
    often as second. So no preference over a choice's comparative, its feature, its position or any mix of them can
    beat chance, and the form baseline, even told the positions, scores exactly 1/2."""
    g = simple_reversals.generate(seed, **params)
    for split in ("reversal", "rephrase"):
        questions = [q for q in g.questions if q.split == split]
        by_order: dict[tuple[str, ...], Counter[int]] = {}
        for q in questions:
            by_order.setdefault(tuple(choice_forms(q)), Counter())[q.answer] += 1
        assert all(c[0] == c[1] for c in by_order.values()), (split, by_order)
        by_word = Counter((q.choices[0].split()[0], q.answer) for q in questions)
        assert by_word["more", 0] == by_word["more", 1] and by_word["less", 0] == by_word["less", 1], by_word
        if len(questions) % 4 == 0:  # an even number of pairs: "more" is shown first in exactly half the questions
            assert len(set(by_word.values())) == 1, by_word
        for placed in (False, True):
            shown = [_placed(q) if placed else q for q in questions]
            score = form_baseline(Dataset("simple-reversals", g.documents, shown, g.oracle))
            assert [s.accuracy for s in score] == [0.5], (split, placed, score)

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
    assert entails([st("No m are p"), st("Some s are m")], st("Some s are not p"))  # Ferio
    assert entails([st("All p are m"), st("Some s are not m")], st("Some s are not p"))  # Baroco
    assert entails([st("Some m are not p"), st("All m are s")], st("Some s are not p"))  # Bocardo
    assert not entails([st("Some m are not p"), st("All m are s")], st("Some p are not s"))
    assert entails([st("All p are m"), st("No s are m")], st("No p are s"))  # Camestres, converted
    assert entails([st("All m are p"), st("Some m are s")], st("Some s are p"))  # Datisi
    assert not entails([st("All m are p"), st("All m are s")], st("Some s are p"))  # Darapti needs existence
    assert not entails([st("No s are p")], st("Some s are not p"))  # so does subalternation
    assert not entails([st("All p are m"), st("All s are m")], st("All s are p"))  # undistributed middle
    assert not entails([st("All s are p")], st("All p are s")) and entails([st("Some s are p")], st("Some p are s"))


@pytest.mark.parametrize("options", ["six", "four"])
@pytest.mark.parametrize("style", list(STYLES))
def test_each_question_has_exactly_one_valid_option(style: str, options: str):
    g = simple_syllogisms.generate(7, n_examples=30, premise_style=style, options=options)
    premises = {d.source_fact_ids[0]: _premises(d.text, style) for d in g.documents}
    for q in g.questions:
        given = premises[q.source_fact_ids[0].rsplit("-", 1)[0] + "-0"]
        parsed = [_parse(c, "plural") for c in q.choices]
        if q.split == "syllogism":
            valid = [i for i, o in enumerate(parsed) if entails(given, o)]
            assert valid == [q.answer], (q, given)
            terms = {t for p in given for t in (p.x, p.y)}
            ends = {t for t in terms if sum(t in (p.x, p.y) for p in given) == 1}
            assert {parsed[0].x, parsed[0].y} == ends and all(t in q.prompt for t in ends)
        else:
            premise = given[int(q.id.rsplit("-", 1)[1])]
            assert [i for i, o in enumerate(parsed) if entails([premise], o)] == [q.answer]
            assert premise.quantifier == parsed[q.answer].quantifier
        # every option a different proposition (a symmetric statement and its converse are one)
        distinct = {(o.quantifier, frozenset((o.x, o.y)) if o.quantifier in (SOME, NO) else (o.x, o.y))
                    for o in parsed}
        assert len(q.choices) == len(distinct) == len(simple_syllogisms.SLOTS[options])


def test_each_form_has_one_conclusion_and_the_keys_cover_every_option_shape():
    """The key is each option shape equally often: the forms' conclusions, counted, are the option shapes'
    quantifiers (two All shapes, two Some…not shapes, one Some, one No)."""
    for options, slots in simple_syllogisms.SLOTS.items():
        conclusions = simple_syllogisms.form_conclusions(options)
        cycle = simple_syllogisms.FORM_CYCLE[options]
        assert Counter(conclusions[f].quantifier for f in cycle) == Counter(q for q, _ in slots)
        for form, conclusion in conclusions.items():
            shape = simple_syllogisms.FORMS[form]
            premises = [Statement(q, a, b) for q, a, b in shape]
            assert entails(premises, conclusion) and (conclusion.x, conclusion.y) == ("S", "P")


def test_six_options_by_default_chance_one_sixth():
    g = simple_syllogisms.generate(0)
    assert all(len(q.choices) == 6 for q in g.questions)
    assert Counter(q.answer for q in g.questions if q.split == "syllogism") == Counter({i: 69 // 6 + (i < 69 % 6)
                                                                                        for i in range(6)})


def test_keys_are_balanced_over_the_option_shapes_and_premises_use_no_option_wording():
    n = 72
    g = simple_syllogisms.generate(0, n_examples=n)
    for d in g.documents:
        assert not re.search(r"\b(all|some|no|not|are)\b", d.text.split(":", 1)[1], re.IGNORECASE)
    for split in ("syllogism", "premise"):
        keys = Counter(_parse(q.choices[q.answer], "plural").quantifier for q in g.questions if q.split == split)
        # a third All, a third Some…not, a sixth Some, a sixth No: each of the six option shapes n / 6 times
        assert keys == Counter({ALL: n // 3, SOME_NOT: n // 3, SOME: n // 6, NO: n // 6}), split
    four = simple_syllogisms.generate(0, n_examples=n, options="four")
    keys = Counter(_parse(q.choices[q.answer], "plural").quantifier for q in four.questions if q.split == "syllogism")
    assert keys == Counter({ALL: n // 2, SOME: n // 4, NO: n // 4})


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
    ds = as_dataset(g, "simple-syllogisms")
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
    assert len(g.documents) == 1 and Counter(q.split for q in g.questions) == {"syllogism": 1, "premise": 1}
    assert g.documents[0].text.startswith("Here are the relationships between ")
