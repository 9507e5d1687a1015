"""`adaptlab recommend`: the cheapest method meeting an accuracy for a workload, and where the choice flips.

The stored run is written by hand (costs a 7B-class deployment would show: ICL pays for its context on every query,
prompt-cached ICL for attention over it, fine-tuning once per knowledge update), so the expected choices follow
from the arithmetic, not from a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptlab.costs import Prices
from adaptlab.report.decide import Workload, recommend
from adaptlab.store import CostRow, MetricRow, RunResult, Store

Q = 100  # test queries per stored run


def _store(path: Path) -> Path:
    runs = {
        "pretrained": (0.50, [CostRow("query", "per_query", tokens_processed=20 * Q, flops=1e7 * Q, queries=Q)]),
        "icl": (0.95, [
            CostRow("query", "per_query", tokens_processed=2000 * Q, flops=1e9 * Q, queries=Q),
            CostRow("cache_prefill", "cache", tokens_processed=2000, flops=1e9, peak_memory_bytes=10**6),
            CostRow("query_cached", "per_query", tokens_processed=20 * Q, tokens_reused=2000 * Q, flops=2e7 * Q,
                    queries=Q),
        ]),
        "rag": (0.90, [
            CostRow("index", "one_off", tokens_processed=2000, seconds=0.1),
            CostRow("retrieve", "per_query", seconds=0.001 * Q, queries=Q),
            CostRow("query", "per_query", tokens_processed=400 * Q, flops=2e8 * Q, queries=Q),
        ]),
        "ft": (0.90, [
            CostRow("finetune", "one_off", tokens_trained=10**5, flops=1e13, seconds=600),
            CostRow("query", "per_query", tokens_processed=20 * Q, flops=1e7 * Q, queries=Q),
        ]),
    }
    with Store(path / "results.sqlite") as store:
        for method, (acc, costs) in runs.items():
            store.save(RunResult(
                run_id=method, model="m", dataset="d", method=method, seed=0, config={}, scores=[],
                metrics=[MetricRow(s, "per_char", acc, 0.02, 0.5, Q) for s in ("rephrase", "reversal")],
                costs=[*costs, CostRow("scoring", "per_query", flops=1e7 * Q, seconds=0.01 * Q, queries=Q)],
                info={"model_params": 10**6},
            ))
    return path


def _choice(rundir: Path, w: Workload, **kw):
    [(_, _, decision)] = recommend(rundir, w, Prices(), min_accuracy=0.8, split="reversal", **kw)
    return decision


def test_high_volume_static_knowledge_gets_a_trained_method(tmp_path: Path):
    d = _choice(_store(tmp_path), Workload(queries_per_day=1e6, updates_per_month=0, horizon_days=365))
    assert d.choice is not None and d.choice.option.label == "ft"
    assert "pretrained" not in {c.option.label for c in d.eligible}  # below the accuracy asked for
    assert d.volume_down is not None and d.volume_down.at < 1e6  # fewer queries: something else wins


def test_low_volume_volatile_knowledge_gets_icl_or_rag(tmp_path: Path):
    d = _choice(_store(tmp_path), Workload(queries_per_day=10, updates_per_month=30, horizon_days=30))
    assert d.choice is not None and d.choice.option.method in ("icl", "rag")
    assert d.volume_up is not None and d.volume_up.at > 10


def test_the_volume_at_which_training_pays_rises_with_the_update_rate(tmp_path: Path):
    rundir = _store(tmp_path)

    def flip_to_ft(updates: float) -> float:
        # the query volume above which `ft` is the cheapest: scan the decision's upward flips from a low volume
        q = 1.0
        for _ in range(10):
            d = _choice(rundir, Workload(queries_per_day=q, updates_per_month=updates, horizon_days=90))
            if d.choice is not None and d.choice.option.label == "ft":
                return q
            assert d.volume_up is not None
            q = d.volume_up.at * 1.0001
        raise AssertionError("ft never became the cheapest")

    rare, monthly, daily = flip_to_ft(0.1), flip_to_ft(1), flip_to_ft(30)
    assert rare < monthly < daily
    assert monthly / rare == pytest.approx((1 + 1 * 3) / (1 + 0.1 * 3), rel=0.05)  # one-off × builds


def test_recommend_command(tmp_path: Path, cli):
    rundir = _store(tmp_path)
    code, out, err = cli("recommend", rundir, "--queries-per-day", "1000000", "--updates-per-month", "0",
                         "--horizon-days", "365", "--min-accuracy", "0.8", "--split", "reversal")
    assert code == 0, err
    assert "use ft" in out and "icl+cache" in out.replace("\n", "")
    code, out, _ = cli("recommend", rundir, "--queries-per-day", "10", "--updates-per-month", "30",
                       "--min-accuracy", "0.8")
    assert code == 0 and ("use rag" in out or "use icl" in out)
    for bad, message in ((["--split", "nope"], "no dataset has a split 'nope'"),
                         (["--min-accuracy", "2"], "--min-accuracy"), (["--horizon-days", "0"], "--horizon-days"),
                         (["--price", "-1"], "--price")):
        code, _, err = cli("recommend", rundir, *bad)
        assert code == 2 and message in err and "Traceback" not in err
    code, _, err = cli("recommend", tmp_path / "empty")
    assert code == 2 and "no results.sqlite" in err


def _store_with_chance_and_control(path: Path) -> Path:
    """pretrained at chance but cheapest; aug-oracle-ft the most accurate and cheap per query (a control)."""
    def run(method: str, acc: float, costs: list[CostRow]) -> RunResult:
        return RunResult(run_id=method, model="m", dataset="d", method=method, seed=0, config={}, scores=[],
                         metrics=[MetricRow("reversal", "per_char", acc, 0.04, 0.5, Q)],
                         costs=[*costs, CostRow("scoring", "per_query", flops=1e7 * Q, seconds=0.01 * Q, queries=Q)],
                         info={"model_params": 277_000})
    query = CostRow("query", "per_query", tokens_processed=20 * Q, flops=1e7 * Q, queries=Q)
    with Store(path / "results.sqlite") as store:
        store.save(run("pretrained", 0.55, [query]))  # 1.25 SE above chance: not above it
        store.save(run("aug-oracle-ft", 0.99, [CostRow("finetune", "one_off", flops=1e9), query]))
        store.save(run("icl", 0.80, [CostRow("query", "per_query", tokens_processed=900 * Q, flops=9e8 * Q,
                                             queries=Q)]))
    return path


def test_options_at_chance_and_controls_are_never_recommended(tmp_path: Path):
    rundir = _store_with_chance_and_control(tmp_path)
    [(_, _, d)] = recommend(rundir, Workload(1000, 4, 90), Prices())
    assert d.choice is not None and d.choice.option.label == "icl"
    assert {c.option.label for c in d.eligible} == {"icl"}
    [(_, _, d)] = recommend(rundir, Workload(1000, 4, 90), Prices(), allow_chance=True)
    assert d.choice is not None and d.choice.option.label == "pretrained"  # asked for: the cheapest at chance
    assert "aug-oracle-ft" not in {c.option.label for c in d.eligible}  # a control, even when asked


def test_the_newcomers_command_says_why_and_at_what_scale(tmp_path: Path, cli):
    rundir = _store_with_chance_and_control(tmp_path)
    code, out, err = cli("recommend", rundir, "--queries-per-day", "1000", "--updates-per-month", "4",
                         "--horizon-days", "90")
    text = " ".join(out.split())
    assert code == 0, err
    assert "use icl" in text and "not above chance" in text and "a control" in text
    assert "measured model (277,000 parameters)" in text and "--params" in text
    code, out, _ = cli("recommend", rundir, "--params", "7e9")
    assert code == 0 and "projected to a model of 7e+09 parameters" in " ".join(out.split())
