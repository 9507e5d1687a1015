"""SQuAD-style grading of free-form answers."""

import pytest

from adaptlab.grading import contains, exact_match, f1, grade, normalise


def test_normalisation_follows_squad():
    assert normalise("The  Eiffel-Tower!") == "eiffeltower"
    assert normalise("An apple, a pear and THE plum.") == "apple pear and plum"


def test_exact_match_f1_and_contains():
    refs = ["Paris", "the city of Paris"]
    assert exact_match("paris.", refs) == 1.0 and exact_match("Paris, France", refs) == 0.0
    assert f1("Paris, France", ["Paris"]) == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert f1("Lyon", refs) == 0.0
    assert contains("The answer is Paris.", refs) == 1.0
    assert contains("Parisian", ["Paris"]) == 0.0  # whole words only
    assert grade("Paris", refs) == {"exact_match": 1.0, "f1": 1.0, "contains": 1.0}
