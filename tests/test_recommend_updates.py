"""`adaptlab recommend` with update runs: the options are method/path pairs, each update paid at its path's measured
cost, accuracy read after the update. The store is written by hand (the costs a deployment would show), so the
expected choices follow from the arithmetic, not from a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptlab.costs import Prices
from adaptlab.report.decide import Workload, recommend
from adaptlab.store import CostRow, MetricRow, RunResult, Store

Q = 100
INITIAL = CostRow("finetune", "one_off", tokens_trained=10**5, flops=1e13, seconds=600)
CHEAP_QUERY = CostRow("query", "per_query", tokens_processed=20 * Q, flops=1e7 * Q, queries=Q)
ICL_QUERY = CostRow("query", "per_query", tokens_processed=2000 * Q, flops=1e9 * Q, queries=Q)
# accuracy after the update: updated, updated_reversal, new, unchanged
UPDATE_RUNS = {
    "ft/retrain": ((0.90, 0.85, 0.90, 0.90), [INITIAL, CostRow("update:finetune", "update", flops=1e13), CHEAP_QUERY]),
    # cheaper, but it still half answers the old fact
    "ft/continue": ((0.60, 0.60, 0.90, 0.95), [INITIAL, CostRow("update:finetune", "update", flops=2e12),
                                                CHEAP_QUERY]),
    "icl/swap": ((0.95, 0.95, 0.95, 0.95), [CostRow("update:swap", "update", tokens_processed=2000), ICL_QUERY]),
}


def _save(store: Store, run_id: str, dataset: str, method: str, accs: dict[str, float], costs: list[CostRow]) -> None:
    store.save(RunResult(
        run_id=run_id, model="m", dataset=dataset, method=method, seed=0, config={}, scores=[],
        metrics=[MetricRow(s, "per_char", a, 0.02, 0.5, Q) for s, a in accs.items()],
        costs=[*costs, CostRow("scoring", "per_query", flops=1e7 * Q, seconds=0.01 * Q, queries=Q)],
        info={"model_params": 10**6}))


def _store(path: Path, updates: bool = True) -> Path:
    with Store(path / "results.sqlite") as store:
        _save(store, "ft", "d", "ft", {"rephrase": 0.9, "reversal": 0.5}, [INITIAL, CHEAP_QUERY])
        _save(store, "icl", "d", "icl", {"rephrase": 0.95, "reversal": 0.95}, [ICL_QUERY])
        if updates:
            for method, (accs, costs) in UPDATE_RUNS.items():
                splits = ("updated", "updated_reversal", "new", "unchanged")
                _save(store, method, "d@update", method, dict(zip(splits, accs, strict=True)), costs)
    return path


def _decide(rundir: Path, updates_per_month: float, **kw):
    [(model, dataset, decision)] = recommend(rundir, Workload(10_000, updates_per_month, 30), Prices(), **kw)
    assert (model, dataset) == ("m", "d@update")  # decided on the update runs, in the dataset's place
    return decision


def test_options_are_method_path_pairs_at_their_measured_update_cost(tmp_path: Path):
    d = _decide(_store(tmp_path), 1)
    costed = {c.option.label: c for c in d.costed}
    assert set(costed) == set(UPDATE_RUNS)
    retrain, cont, swap = costed["ft/retrain"], costed["ft/continue"], costed["icl/swap"]
    assert retrain.per_update == pytest.approx(retrain.one_off) and retrain.one_off > 0
    assert cont.per_update == pytest.approx(cont.one_off / 5)  # 2e12 against 1e13, measured
    assert swap.per_update == 0 and swap.one_off == 0
    w = d.workload
    assert cont.total(w) == pytest.approx(cont.one_off + cont.per_update + cont.per_query * 10_000 * 30)


def test_the_update_rate_changes_the_choice_on_the_split_asked_for(tmp_path: Path):
    rundir = _store(tmp_path)
    # the changed facts must be answered: ft/continue (0.60 on `updated`) is out
    rare = _decide(rundir, 1, min_accuracy=0.8, split="updated")
    often = _decide(rundir, 30, min_accuracy=0.8, split="updated")
    assert "ft/continue" not in {c.option.label for c in rare.eligible}
    assert rare.choice is not None and rare.choice.option.label == "ft/retrain"
    assert often.choice is not None and often.choice.option.label == "icl/swap"
    # the flip is exact: at that update rate both cost the same
    flip = rare.updates_up
    assert flip is not None and flip.to == "icl/swap" and 1 < flip.at < 30
    at = Workload(10_000, flip.at, 30)
    totals = {c.option.label: c.total(at) for c in rare.costed}
    assert totals["ft/retrain"] == pytest.approx(totals["icl/swap"])


def test_a_cheap_measured_update_keeps_training_worth_it_at_a_high_update_rate(tmp_path: Path):
    # on the mean of the update's splits ft/continue (0.76) passes 0.75; its updates cost a fifth of retraining
    often = _decide(_store(tmp_path), 30, min_accuracy=0.75)
    assert often.choice is not None and often.choice.option.label == "ft/continue"
    assert often.updates_up is not None and often.updates_up.at > 30


def test_an_update_split_without_update_runs_is_a_one_line_error(tmp_path: Path, cli):
    rundir = _store(tmp_path, updates=False)
    code, _, err = cli("recommend", rundir, "--split", "updated")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "no dataset has a split 'updated'" in err and "update runs" in err
    (tmp_path / "u").mkdir()
    code, out, err = cli("recommend", _store(tmp_path / "u"), "--updates-per-month", "30", "--min-accuracy", "0.8",
                         "--split", "updated", "--dataset", "d")
    assert code == 0, err
    assert "use icl/swap" in " ".join(out.split()) and "per update" in out
