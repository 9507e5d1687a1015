"""What adaptation cost the model: the shipped general-knowledge set, the retention evaluation stored beside a run,
and `recommend`'s retention floor."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from adaptlab.costs import Prices
from adaptlab.data import general_knowledge
from adaptlab.data.registry import make_dataset
from adaptlab.errors import AdaptlabError
from adaptlab.report.decide import Workload, recommend
from adaptlab.retention import HELDOUT_METRIC, SPLIT
from adaptlab.store import CostRow, MetricRow, RunResult, Store


def test_the_general_knowledge_set_is_several_hundred_balanced_four_way_questions():
    qs = general_knowledge.questions()
    assert len(qs) >= 300
    assert len({q.id for q in qs}) == len(qs) and len({q.prompt for q in qs}) == len(qs)
    positions = Counter(q.answer for q in qs)
    assert max(positions.values()) - min(positions.values()) <= 1  # a position preference scores 1/4
    answers_of: dict[str, set[str]] = {}
    for (category, _, answer), q in zip(general_knowledge.facts(), qs, strict=True):
        answers_of.setdefault(category, set()).add(answer)
        assert len(q.choices) == 4 and q.choices[q.answer] == answer
    for (category, _, _), q in zip(general_knowledge.facts(), qs, strict=True):
        assert set(q.choices) <= answers_of[category]  # distractors of the same kind
    assert len(general_knowledge.heldout_paragraphs()) >= 5


def _stored(db: Path) -> dict[str, dict[tuple[str, str], float]]:
    with sqlite3.connect(db) as con:
        runs = dict(con.execute("SELECT run_id, method FROM runs"))
        out: dict[str, dict[tuple[str, str], float]] = {m: {} for m in runs.values()}
        for run_id, question, choice, logprob in con.execute(
                "SELECT run_id, question_id, choice, logprob FROM scores WHERE split = ?", (SPLIT,)):
            out[runs[run_id]][question, str(choice)] = logprob
    return out


def test_retention_is_stored_beside_each_run_and_untouched_weights_retain_exactly(tmp_path, cli):
    make_dataset("simple-reversals", 0, tmp_path / "data", {"n_facts": 4, "articles_per_fact": 1})
    for method in ("pretrained", "icl", "ft-full"):
        code, _, err = cli("eval", "--model", "tiny", "--data", tmp_path / "data", "--method", method,
                           "--out", tmp_path / "out", "--retention", "general-knowledge")
        assert code == 0, err
    scores = _stored(tmp_path / "out" / "results.sqlite")
    assert len(scores["icl"]) == 4 * len(general_knowledge.questions())
    assert scores["icl"] == scores["pretrained"]  # ICL leaves the weights as they were: shown, not assumed
    assert scores["ft-full"] != scores["pretrained"]  # fine-tuning moved them
    with Store(tmp_path / "out" / "results.sqlite") as store:
        heldout = [m for m in store.metrics() if m["metric"] == HELDOUT_METRIC]
        assert len(heldout) == 3 and all(m["accuracy"] > 0 for m in heldout)
        runs = store.runs()
    assert all(r["info"]["retention"] == "general-knowledge" and r["config"]["retention"] == "general-knowledge"
               for r in runs)


def test_fresh_worlds_retention_for_a_model_trained_from_scratch(tmp_path, cli):
    make_dataset("simple-reversals", 0, tmp_path / "data", {"n_facts": 4, "articles_per_fact": 1})
    code, _, err = cli("eval", "--model", "tiny", "--data", tmp_path / "data", "--method", "icl",
                       "--out", tmp_path / "out", "--retention", "auto")
    assert code == 0, err
    with Store(tmp_path / "out" / "results.sqlite") as store:
        [run] = store.runs()
        kept = [m for m in store.metrics(run["run_id"]) if m["split"] == SPLIT]
    assert run["info"]["retention"] == "fresh-worlds"
    assert kept and all(m["n"] == 2 * 8 for m in kept)  # two fresh worlds of 4 facts x 2 splits
    # the same run without retention is another experiment: another id, and the one it always had
    code, _, _ = cli("eval", "--model", "tiny", "--data", tmp_path / "data", "--method", "icl",
                     "--out", tmp_path / "plain")
    with Store(tmp_path / "plain" / "results.sqlite") as store:
        [plain] = store.runs()
    assert plain["run_id"] != run["run_id"] and "retention" not in plain["config"]


def test_a_bad_retention_is_one_line(cli, tmp_path):
    make_dataset("simple-reversals", 0, tmp_path / "data", {"n_facts": 4, "articles_per_fact": 1})
    code, _, err = cli("eval", "--model", "tiny", "--data", tmp_path / "data", "--out", tmp_path / "o",
                       "--retention", "everything")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "retention" in err
    assert not (tmp_path / "o").exists()


def _decidable(path: Path, retention: dict[str, float] | None) -> Path:
    q = 100
    costs = {"ft-lora": 1e13, "ft-full": 1e12}  # full fine-tuning the cheaper here: only the floor can refuse it
    with Store(path / "results.sqlite") as store:
        for method, flops in costs.items():
            metrics = [MetricRow("rephrase", "per_char", 0.9, 0.02, 0.5, q)]
            if retention is not None:
                metrics.append(MetricRow(SPLIT, "per_char", retention[method], 0.02, 0.25, 300))
            store.save(RunResult(run_id=method, model="m", dataset="d", method=method, seed=0, config={}, scores=[],
                                 metrics=metrics, info={"model_params": 10**6},
                                 costs=[CostRow("finetune", "one_off", flops=flops),
                                        CostRow("query", "per_query", flops=1e7 * q, queries=q)]))
    return path


def test_recommend_keeps_a_retention_floor(tmp_path):
    rundir = _decidable(tmp_path, {"ft-lora": 0.55, "ft-full": 0.40})
    [(_, _, free)] = recommend(rundir, Workload(), Prices())
    assert free.choice is not None and free.choice.option.label == "ft-full"
    [(_, _, floored)] = recommend(rundir, Workload(), Prices(), min_retention=0.5)
    assert floored.choice is not None and floored.choice.option.label == "ft-lora"
    # the mean accuracy a choice is read on is the dataset's knowledge, not the retention evaluation
    assert floored.choice.accuracy is not None and floored.choice.accuracy.mean == pytest.approx(0.9)


def test_a_retention_floor_without_retention_results_is_one_line(tmp_path):
    with pytest.raises(AdaptlabError, match="no run stored a retention evaluation"):
        recommend(_decidable(tmp_path, None), Workload(), Prices(), min_retention=0.5)
    with pytest.raises(AdaptlabError, match="--min-retention must be between 0 and 1"):
        recommend(tmp_path, Workload(), Prices(), min_retention=1.5)
