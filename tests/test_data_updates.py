"""A dataset's update: the same world after a share of its facts changed, written beside it and loaded with it."""

from __future__ import annotations

import hashlib
import json

import pytest

from adaptlab.data.io import load_dataset
from adaptlab.data.records import UPDATE_SPLITS
from adaptlab.data.registry import make_dataset
from adaptlab.errors import AdaptlabError

PARAMS = {"n_facts": 20, "articles_per_fact": 4}


def test_an_update_leaves_the_world_as_it_was(tmp_path):
    make_dataset("simple-reversals", 3, tmp_path / "plain", PARAMS)
    make_dataset("simple-reversals", 3, tmp_path / "upd", {**PARAMS, "update_share": 0.3})
    plain, upd = load_dataset(tmp_path / "plain"), load_dataset(tmp_path / "upd")
    assert plain.update is None and upd.update is not None
    assert plain.digest() == upd.digest()


def test_simple_reversals_update_splits_and_corpus(tmp_path):
    make_dataset("simple-reversals", 0, tmp_path / "d", {**PARAMS, "update_share": 0.3})
    before = load_dataset(tmp_path / "d")
    after = before.update
    assert after is not None and after.manifest is not None and after.manifest.update_of == before.digest()
    assert set(after.splits) == set(UPDATE_SPLITS)
    n_changed = len(after.split("updated"))
    assert n_changed == 6 and len(after.split("new")) == 6 and len(after.split("unchanged")) == 14
    old = {q.prompt: q for q in before.split("rephrase")}
    for q in after.split("updated"):  # the old answer is the other choice
        was = old[q.prompt]
        assert was.choices[was.answer] in q.choices and was.choices[was.answer] != q.choices[q.answer]
    for q in after.split("unchanged"):
        was = old[q.prompt]
        assert was.choices[was.answer] == q.choices[q.answer]
    changed = after.changed_documents(before)
    # every article of a changed or new fact is new; every other article is kept as it was
    assert len(changed) == (n_changed + len(after.split("new"))) * PARAMS["articles_per_fact"]
    assert len(after.documents) == len(before.documents) + len(after.split("new")) * PARAMS["articles_per_fact"]
    # a scorer with a fixed preference for a position is right on exactly half of every split
    for split in after.splits:
        assert sum(q.answer for q in after.split(split)) * 2 == len(after.split(split))


def test_an_update_that_names_another_dataset_is_refused(tmp_path):
    make_dataset("simple-reversals", 0, tmp_path / "d", {**PARAMS, "update_share": 0.3})
    manifest = tmp_path / "d" / "update" / "manifest.json"
    obj = json.loads(manifest.read_text())
    obj["update_of"] = "0" * 64
    manifest.write_text(json.dumps(obj))
    top = tmp_path / "d" / "manifest.json"  # the dataset's own manifest vouches for the edited one
    outer = json.loads(top.read_text())
    outer["files"]["update/manifest.json"] = hashlib.sha256(manifest.read_bytes()).hexdigest()
    top.write_text(json.dumps(outer))
    with pytest.raises(AdaptlabError, match="update_of names another dataset"):
        load_dataset(tmp_path / "d")


def test_redrawing_without_an_update_removes_the_old_one(tmp_path):
    make_dataset("simple-reversals", 0, tmp_path / "d", {**PARAMS, "update_share": 0.3})
    make_dataset("simple-reversals", 0, tmp_path / "d", PARAMS)
    assert not (tmp_path / "d" / "update").exists() and load_dataset(tmp_path / "d").update is None
