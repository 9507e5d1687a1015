"""Results store (atomic runs), experiment configs (one-line errors before anything runs) and the report."""

from pathlib import Path

import pytest

from adaptlab.costs import break_even_queries
from adaptlab.store import CostRow, MetricRow, RunResult, ScoreRow, Store


def _result(run_id: str, method: str, seed: int, acc: float) -> RunResult:
    return RunResult(
        run_id=run_id, model="m", dataset="d", method=method, seed=seed, config={},
        scores=[ScoreRow("q1", "reversal", 0, True, -1.0, 2, 5), ScoreRow("q1", "reversal", 1, False, -2.0, 2, 5)],
        metrics=[MetricRow("reversal", "per_char", acc, 0.05, 0.5, 100)],
        costs=[CostRow("query", "per_query", tokens_processed=1000 if method == "icl" else 10,
                       flops=2e6 if method == "icl" else 2e4, queries=100),
               *([CostRow("finetune", "one_off", flops=1e7, seconds=3.0)] if method == "ft" else [])],
        info={"model_params": 1000},
    )


def test_store_saves_runs_whole_and_replaces(tmp_path: Path):
    with Store(tmp_path / "r.sqlite") as store:
        store.save(_result("a", "ft", 0, 0.9))
        store.save(_result("a", "ft", 0, 0.8))  # the same run again replaces, never duplicates
        assert store.is_done("a") and not store.is_done("b")
        assert store.count("runs") == 1 and store.count("scores") == 2 and store.count("metrics") == 1
        assert store.metrics("a")[0]["accuracy"] == 0.8
    with Store(tmp_path / "r.sqlite") as store:  # reopened
        assert [r["run_id"] for r in store.runs()] == ["a"]


def test_break_even():
    assert break_even_queries(100.0, 1.0, 0.0, 11.0) == pytest.approx(10.0)
    assert break_even_queries(0.0, 1.0, 0.0, 2.0) == 0.0
    assert break_even_queries(100.0, 5.0, 0.0, 5.0) == float("inf")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


GOOD = """
models: [tiny]
datasets:
  - name: simple-reversals
    params: {n_facts: 8}
methods: [pretrained, icl]
seeds: [0, 1]
"""


@pytest.mark.parametrize(
    "text, words",
    [
        ("models: [tiny\n", ["invalid YAML"]),
        ("- just\n- a list\n", ["mapping"]),
        (GOOD.replace("icl]", "icl, fine-tune]"), ["unknown method 'fine-tune'"]),
        (GOOD.replace("simple-reversals", "reversals"), ["unknown dataset 'reversals'"]),
        (GOOD.replace("seeds: [0, 1]", "seeds: [0, 1]\ncolour: red"), ["unknown field 'colour'"]),
        (GOOD.replace("models: [tiny]", "models: []"), ["models"]),
        (GOOD + "options: {kk: 3}\n", ["unknown option 'kk'"]),
        (GOOD.replace("[pretrained, icl]", "[pretrained, ft]") + "options: {finetune: {steps: -5}}\n", ["steps"]),
        (GOOD + "options: {finetune: {k: 2}}\n", ["finetune", "'k'"]),  # no listed method reads it: still checked
        (GOOD + "options: {memory: {step: 2}}\n", ["memory", "'step'"]),
        (GOOD + "method_options: {ft: {k: 2}}\n", ["'ft'", "not in methods"]),
        (GOOD.replace("  - name: simple-reversals\n", "  - path: x\n    name: simple-reversals\n"), ["either"]),
        (GOOD.replace("n_facts: 8", "n_facts: twenty"), ["simple-reversals: parameter n_facts must be an integer"]),
        (GOOD.replace("n_facts: 8", "n_fact: 8"), ["unknown parameter 'n_fact'; known: n_facts, articles_per_fact"]),
        (GOOD.replace("name: simple-reversals", "path: data/mine"), ["`params` are for a generator"]),
        (GOOD + "options: {k: 0}\n", ["option k: Input should be greater than or equal to 1"]),
        (GOOD + "options: {k: -3}\n", ["option k: Input should be greater than or equal to 1"]),
        (GOOD + "options: {max_context_tokens: 0}\n", ["option max_context_tokens"]),
        (GOOD + "limit: 0\n", ["limit"]),
        (GOOD + "limit: -1\n", ["limit"]),
        (GOOD.replace("params: {n_facts: 8}", "params: {n_facts: 8}\n    seeds: []"), ["seeds"]),
    ],
)
def test_bad_configs_fail_in_one_line_before_running(tmp_path: Path, cli, text: str, words: list[str]):
    config = _write(tmp_path, text)
    code, _, err = cli("run", config, "--out", tmp_path / "run")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert str(config) in err
    for word in words:
        assert word in err, err
    assert not (tmp_path / "run").exists()  # nothing ran


def test_a_dataset_may_draw_its_own_seeds(tmp_path: Path):
    from adaptlab.runs import load_config, plan_runs

    syllogisms = "  - name: simple-syllogisms\n    params: {n_examples: 6}\n    seeds: [0, 1, 2, 3]\n"
    text = GOOD.replace("methods:", syllogisms + "methods:")
    plan = plan_runs(load_config(_write(tmp_path, text)), tmp_path / "run")
    seeds = {name: sorted({r.seed for r in plan if r.dataset_spec.name == name})
             for name in ("simple-reversals", "simple-syllogisms")}
    assert seeds == {"simple-reversals": [0, 1], "simple-syllogisms": [0, 1, 2, 3]}
    assert len(plan) == 2 * 2 + 4 * 2


def test_report_renders_from_a_store(tmp_path: Path, cli):
    with Store(tmp_path / "results.sqlite") as store:
        for seed, acc in enumerate((0.9, 0.8, 0.85)):
            store.save(_result(f"ft{seed}", "ft", seed, acc))
            store.save(_result(f"icl{seed}", "icl", seed, 0.7))
    code, _, err = cli("report", tmp_path)
    assert code == 0, err
    md = (tmp_path / "report.md").read_text()
    html = (tmp_path / "report.html").read_text()
    assert "0.850 ± 0.029" in md  # mean and standard error over the 3 seeds
    assert "data:image/png;base64," in html and "<table>" in html
    # ft pays 1e7 FLOPs once and saves 2e4 - 2e2 FLOPs per query against icl: break-even after 506 queries
    assert "| m | d | ft | 506 |" in md


def test_report_without_results_is_one_line(tmp_path: Path, cli):
    code, _, err = cli("report", tmp_path)
    assert code == 2 and "no results.sqlite" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path: Path):
    """The configs the docs tell users to run load, and every method's options validate, before anything runs."""
    from adaptlab.methods import get_method
    from adaptlab.runs.config import load_config

    config = load_config(path)
    for method in config.methods:
        get_method(method, config.options_for(method))
