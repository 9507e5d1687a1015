"""Fresh fictitious celebrities: counts, templates, names, splits, distractors, baseline, determinism."""

import re
from collections import Counter
from pathlib import Path

import pytest

from adaptlab.data import celebrities as cel
from adaptlab.data.baseline import surface_baseline
from adaptlab.data.io import load_dataset
from adaptlab.data.lexicon import candidate_words
from adaptlab.data.records import Generated
from adaptlab.data.registry import make_dataset
from adaptlab.errors import AdaptlabError
from conftest import as_dataset

SMALL = {"n_people": 6, "train_templates": 4, "test_templates": 2}
ALL_TEMPLATES = cel.P2D_TRAIN_TEMPLATES + cel.P2D_TEST_TEMPLATES + cel.D2P_TRAIN_TEMPLATES + cel.D2P_TEST_TEMPLATES


@pytest.fixture(scope="module")
def world() -> Generated:
    return cel.generate(0)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def test_counts_follow_berglund(world: Generated):
    ds = as_dataset(world, "celebrities")
    assert len(world.documents) == 2700 and len(world.oracle) == 900
    assert {s: len(ds.split(s)) for s in ds.splits} == {"reversal": 300, "both_reversal": 300, "rephrase": 300}
    assert all(ds.chance(s) == 0.25 for s in ds.splits)
    assert len(cel.generate(0, include_d2p=True).documents) == 3600
    small = cel.generate(0, **SMALL)
    assert len(small.documents) == 6 * 4 + 6 * 8
    assert Counter(q.split for q in small.questions) == {"reversal": 12, "both_reversal": 12, "rephrase": 12}


def test_templates_are_ours_well_formed_and_distinct():
    assert (len(cel.P2D_TRAIN_TEMPLATES), len(cel.P2D_TEST_TEMPLATES)) == (30, 10)
    assert (len(cel.D2P_TRAIN_TEMPLATES), len(cel.D2P_TEST_TEMPLATES)) == (30, 10)
    assert len(set(ALL_TEMPLATES)) == 80
    for t in cel.P2D_TRAIN_TEMPLATES + cel.P2D_TEST_TEMPLATES:
        assert t.endswith(" {description}.") and t.index("{name}") < t.index("{description}")
    for t in cel.D2P_TRAIN_TEMPLATES + cel.D2P_TEST_TEMPLATES:
        assert " {name}" in t and t.index("{description}") < t.index("{name}")
        assert not t.startswith("{description}")  # descriptions start with a lower-case "the"


def test_name_tokens_are_unique_and_never_other_words(world: Generated):
    vocabulary = set().union(*(_words(t) for t in ALL_TEMPLATES))
    vocabulary |= set().union(*(_words(w) for w in cel.ADJECTIVES + cel.TITLE_FIRST + cel.TITLE_SECOND))
    vocabulary |= set().union(*(_words(" ".join(r)) for r in cel.ROLES))
    assert not vocabulary & {n.lower() for n in cel.FIRST_NAMES + cel.LAST_NAMES}
    assert len(set(cel.FIRST_NAMES)) == len(cel.FIRST_NAMES) and len(set(cel.LAST_NAMES)) == len(cel.LAST_NAMES)
    names = {q.choices[q.answer] for q in world.questions if q.split != "rephrase"}
    tokens = [t for n in names for t in n.split()]
    assert len(names) == 60 and len(tokens) == len(set(tokens)) == 120


def test_nonsense_names_come_from_the_lexicon():
    g = cel.generate(2, nonsense_names=True)
    names = {q.choices[q.answer] for q in g.questions if q.split == "reversal"}
    assert all(w.lower() in candidate_words() and w[0].isupper() for n in names for w in n.split())
    assert all(s.at_chance for n in (1, 3) for s in surface_baseline(as_dataset(g, "celebrities"), max_n=n))


def test_splits_use_held_out_templates_and_the_right_people(world: Generated):
    ds = as_dataset(world, "celebrities")
    reversal_prefixes = tuple(t.split("{description}")[0] for t in cel.D2P_TEST_TEMPLATES)
    rephrase_prefixes = [t.split("{name}")[1].split("{description}")[0].strip() for t in cel.P2D_TEST_TEMPLATES]
    trained = "\n".join(d.text for d in world.documents + world.oracle)
    for q in ds.split("reversal") + ds.split("both_reversal"):
        assert q.prompt.startswith(reversal_prefixes) and q.prompt not in trained
    for q in ds.split("rephrase"):
        assert any(q.prompt.endswith(p) for p in rephrase_prefixes) and q.prompt not in trained
    assert {q.source_fact_ids[0].split("-")[0] for q in ds.split("reversal")} == {"p2d"}
    assert {q.source_fact_ids[0].split("-")[0] for q in ds.split("both_reversal")} == {"both"}


DESCRIBED = re.compile(r"the [a-z -]+ who [a-z]+ the [a-z ]+ named [A-Z][a-z]+ [A-Z][a-z]+")


def _orders(texts: list[str], name: str) -> Counter:
    """How many texts put the name first ("n") or the description first ("d")."""
    return Counter("n" if t.index(name) < DESCRIBED.search(t).start() else "d" for t in texts)


def test_trained_directions():
    """p2d: only name first in training; both: both orders; d2p: description first; reversed p2d facts: oracle."""
    world = cel.draw_world(0, include_d2p=True)
    for pid, person in world.people.items():
        docs = [d.text for d in world.documents if d.source_fact_ids == [pid]]
        expected = {"p2d": {"n": 30}, "both": {"n": 30, "d": 30}, "d2p": {"d": 30}}[person.group]
        assert _orders(docs, person.name) == expected
        oracle = [d.text for d in world.oracle if d.source_fact_ids == [pid]]
        assert _orders(oracle, person.name) == ({"d": 30} if person.group == "p2d" else {})


def test_distractors_are_trained_names_of_the_keys_group(world: Generated):
    ds = as_dataset(world, "celebrities")
    trained = "\n".join(d.text for d in world.documents)
    for split in ("reversal", "both_reversal"):
        keys = {q.choices[q.answer] for q in ds.split(split)}
        assert len(keys) == 30
        for q in ds.split(split):
            assert set(q.choices) <= keys and all(c in trained for c in q.choices)
    descriptions = {q.choices[q.answer] for q in ds.split("rephrase")}
    assert all(set(q.choices) <= descriptions for q in ds.split("rephrase"))


def test_every_split_is_in_closed_blocks(world: Generated):
    for split in ("reversal", "both_reversal", "rephrase"):
        blocks: dict[frozenset[str], list[str]] = {}
        for q in as_dataset(world, "celebrities").split(split):
            blocks.setdefault(frozenset(q.choices), []).append(q.choices[q.answer])
        assert len(blocks) == 75 and all(sorted(k) == sorted(b) for b, k in blocks.items())


@pytest.mark.parametrize("params", [{}, SMALL, {"include_d2p": True}])
def test_baseline_is_at_chance_on_every_split(params):
    ds = as_dataset(cel.generate(1, **params), "celebrities")
    for max_n in (1, 3):
        scores = surface_baseline(ds, max_n=max_n)
        assert len(scores) == 3 and all(s.at_chance for s in scores), scores


def test_answer_positions_are_balanced(world: Generated):
    for split in ("reversal", "both_reversal", "rephrase"):
        assert set(Counter(q.answer for q in world.questions if q.split == split).values()) == {75}


def test_same_seed_same_bytes_other_seed_other_world(tmp_path: Path):
    for folder, seed in (("a", 5), ("b", 5), ("c", 6)):
        make_dataset("celebrities", seed, tmp_path / folder, dict(SMALL))
    for name in ("documents.jsonl", "questions.jsonl", "oracle.jsonl", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "documents.jsonl").read_bytes() != (tmp_path / "c" / "documents.jsonl").read_bytes()
    ds = load_dataset(tmp_path / "a")
    assert ds.manifest is not None and ds.manifest.params["n_people"] == 6


def test_bad_sizes_are_refused():
    with pytest.raises(AdaptlabError, match="n_people must be >= 4"):
        cel.generate(0, n_people=3)
    with pytest.raises(AdaptlabError, match=r"train_templates must be 1\.\.30"):
        cel.generate(0, train_templates=31)
    with pytest.raises(AdaptlabError, match="at most 103 people"):
        cel.generate(0, n_people=40, include_d2p=True)
