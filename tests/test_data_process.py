"""Derivatoids: the rule engine, the compositional split, the choices, the baseline, determinism."""

import re
from collections import Counter
from pathlib import Path

import pytest

from adaptlab.data import derivatoids as dv
from adaptlab.data import process as pr
from adaptlab.data.baseline import surface_baseline
from adaptlab.data.io import load_dataset
from adaptlab.data.records import Generated
from adaptlab.data.registry import make_dataset
from adaptlab.errors import AdaptlabError
from conftest import as_dataset

HAND = dv.Rules((("blick", "*"), ("trask", "/")), sum_op="+", product_op="-")


@pytest.fixture(scope="module")
def world() -> Generated:
    return pr.generate(0)


def _examples(text: str, dword: str) -> list[tuple[str, str]]:
    """(expression, result) pairs stated in a training document, found through the example frames."""
    found = []
    for frame in pr.EXAMPLE_FRAMES:
        pattern = re.escape(frame).replace(re.escape("{dword}"), dword)
        pattern = pattern.replace(re.escape("{expr}"), r"(?P<expr>[^.,]+?)")
        pattern = pattern.replace(re.escape("{result}"), r"(?P<result>[^.]+?)")
        found += [(m["expr"], m["result"]) for m in re.finditer(pattern, text)]
    return found


def _expression(q_prompt: str, dword: str) -> dv.Expr:
    head, tail = pr.QUESTION_PROMPT.split("{expr}")
    return dv.parse(q_prompt.removeprefix(head.format(dword=dword)).removesuffix(tail))


def test_rules_by_hand():
    e = dv.parse("blick(trask(x)) * trask(x)")
    assert dv.render(dv.derive(e, HAND)) == (
        "((blick(trask(x)) * (trask(x) / x)) * trask(x)) - (blick(trask(x)) * (trask(x) / x))"
    )
    assert dv.render(dv.derive(dv.parse("blick(x) + trask(x)"), HAND)) == "(blick(x) * x) + (trask(x) / x)"
    assert dv.render(dv.derive(dv.parse("x"), HAND)) == "x"
    assert dv.render(dv.derive(dv.parse("trask(blick(x) + x)"), HAND)) == "trask(blick(x) + x) / ((blick(x) * x) + x)"
    assert HAND.rotated(1) == dv.Rules((("blick", "/"), ("trask", "+")), sum_op="-", product_op="*")
    assert HAND.rotated(4) == HAND


def test_render_and_parse_round_trip():
    rules = dv.Rules((("blick", "*"), ("trask", "/"), ("snarf", "-")), "+", "-")
    exprs = dv.enumerate_expressions(("blick", "trask", "snarf"), 3)
    assert len(exprs) == 3 + 27 + 405
    for e in exprs:
        assert dv.parse(dv.render(e)) == e
        result = dv.derive(e, rules)
        assert dv.parse(dv.render(result)) == result
    for bad in ("blick(x", "blick(x) +", "(x) x", "blick x", "2 * x"):
        with pytest.raises(AdaptlabError, match="cannot parse"):
            dv.parse(bad)


def test_counts_and_defaults(world: Generated):
    ds = as_dataset(world, "process")
    assert len(world.documents) == 400
    assert {s: len(ds.split(s)) for s in ds.splits} == {"compositional": 200, "seen": 200}
    assert all(ds.chance(s) == 0.25 for s in ds.splits)
    assert all(len(_examples(d.text, pr.draw_world(0).dword)) == 3 for d in world.documents)
    rules = [d for d in world.oracle if d.id.startswith("oracle-rule")]
    assert len(rules) == 2 * (4 + 3)
    assert world.params == {
        "n_symbols": 4,
        "max_calls": 3,
        "n_documents": 400,
        "examples_per_document": 3,
        "n_per_split": 200,
    }


def test_training_examples_are_correct_and_never_use_held_out_combinations(world: Generated):
    w = pr.draw_world(0)
    held = set(w.held_out)
    assert len(held) == 6 and Counter(child for _, child in held).most_common(1)[0][1] <= 2
    trained_pairs = Counter()
    for doc in world.documents:
        for expr, result in _examples(doc.text, w.dword):
            e = dv.parse(expr)
            assert dv.render(dv.derive(e, w.rules)) == result
            assert not held & set(dv.pairs(e))
            trained_pairs.update(dv.pairs(e))
    for doc in world.oracle:
        if doc.id.startswith("oracle-derivation"):
            inner = doc.text.split(" step by step: ")[1]
            for step in inner.rstrip(".").split("; "):
                expr, result = step.removeprefix(f"the {w.dword} of ").split(" is ")
                assert dv.render(dv.derive(dv.parse(expr), w.rules)) == result
                assert not held & set(dv.pairs(dv.parse(expr)))
    assert not held & set(trained_pairs)


def test_keyed_answer_is_the_rule_engines_result(world: Generated):
    w = pr.draw_world(0)
    for q in world.questions:
        e = _expression(q.prompt, w.dword)
        assert q.choices[q.answer] == dv.render(dv.derive(e, w.rules))
        assert set(q.choices) == {dv.render(dv.derive(e, w.rules.rotated(k))) for k in range(4)}


def test_splits_test_what_they_say(world: Generated):
    w = pr.draw_world(0)
    held = set(w.held_out)
    trained_exprs, trained_pairs = set(), set()
    for doc in world.documents:
        for expr, _ in _examples(doc.text, w.dword):
            trained_exprs.add(expr)
            trained_pairs |= set(dv.pairs(dv.parse(expr)))
    ds = as_dataset(world, "process")
    tested = Counter()
    for q in ds.split("compositional"):
        e = _expression(q.prompt, w.dword)
        unseen = [p for p in dv.pairs(e) if p in held]
        assert len(unseen) == 1 and set(dv.pairs(e)) - held <= trained_pairs
        tested[unseen[0]] += 1
    assert set(tested) == held  # every held-out combination is tested
    for q in ds.split("seen"):
        e = _expression(q.prompt, w.dword)
        assert dv.render(e) not in trained_exprs and dv.calls(e) == 3
        assert set(dv.pairs(e)) <= trained_pairs
    assert len({q.prompt for q in ds.questions}) == 400


def test_choices_differ_only_in_operators(world: Generated):
    for q in world.questions:
        assert len(set(q.choices)) == 4 and len({len(c) for c in q.choices}) == 1
        assert len({re.sub(r"[-+*/]", "", c) for c in q.choices}) == 1
        # at every operator position the four choices show four different operators, or all the same one
        columns = zip(*(re.findall(r"[-+*/]", c) for c in q.choices), strict=True)
        assert all(len(set(col)) in (1, 4) for col in columns)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"n_symbols": 3, "n_per_split": 40, "n_documents": 60},
        {"n_symbols": 2, "max_calls": 3, "n_per_split": 8, "n_documents": 20},
    ],
)
def test_baseline_is_at_chance_on_every_split(params):
    ds = as_dataset(pr.generate(2, **params), "process")
    for max_n in (1, 3):
        scores = surface_baseline(ds, max_n=max_n)
        assert len(scores) == 2 and all(s.at_chance and s.accuracy == 0.25 for s in scores), scores


def test_answer_positions_are_balanced(world: Generated):
    for split in ("compositional", "seen"):
        assert set(Counter(q.answer for q in world.questions if q.split == split).values()) == {50}


def test_same_seed_same_bytes_other_seed_other_world(tmp_path: Path):
    params = {"n_symbols": 3, "n_per_split": 20, "n_documents": 60}
    for folder, seed in (("a", 1), ("b", 1), ("c", 2)):
        make_dataset("process", seed, tmp_path / folder, dict(params))
    for name in ("documents.jsonl", "questions.jsonl", "oracle.jsonl", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "documents.jsonl").read_bytes() != (tmp_path / "c" / "documents.jsonl").read_bytes()
    ds = load_dataset(tmp_path / "a")
    assert ds.manifest is not None and ds.manifest.splits == {"compositional": 20, "seen": 20}
    assert pr.draw_world(1) != pr.draw_world(2)


def test_impossible_sizes_give_one_line_errors():
    with pytest.raises(AdaptlabError, match=r"n_symbols must be 2\.\.4"):
        pr.generate(0, n_symbols=5)
    with pytest.raises(AdaptlabError, match=r"only \d+ expressions available for the seen split"):
        pr.generate(0, n_symbols=2, n_per_split=500)
    with pytest.raises(AdaptlabError, match="cannot show all"):
        pr.generate(0, n_documents=10)
    with pytest.raises(AdaptlabError, match="max_calls must be 2 or 3"):
        pr.generate(0, max_calls=4)
