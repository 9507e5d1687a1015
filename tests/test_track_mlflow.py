"""Experiment tracking against a real local MLflow store (the `track` extra; skipped without it): a tiny study's
runs, params, metrics, training curve and report read back through MLflow's own client, and nothing logged twice."""

import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

STUDY = """
models: [tiny]
datasets:
  - name: simple-reversals
    params: {n_facts: 4, articles_per_fact: 2}
methods: [icl, ft]
seeds: [0]
limit: 4
options:
  finetune: {mode: full, steps: 6, batch_size: 2, save_steps: 1000}
"""


def client_for(rundir: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{(rundir / 'mlruns' / 'mlflow.db').resolve()}")


def adaptlab_runs(client, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    return [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("adaptlab.kind") == "run"]


def stored_metrics(db: Path) -> dict[str, dict]:
    """Stored metrics by run id: {(split, metric): (accuracy, stderr)}."""
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT run_id, split, metric, accuracy, stderr FROM metrics").fetchall()
    out: dict[str, dict] = {}
    for rid, split, metric, acc, err in rows:
        out.setdefault(rid, {})[(split, metric)] = (acc, err)
    return out


def stored_costs(db: Path, rid: str) -> dict[str, tuple]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT phase, flops, seconds, tokens_trained FROM costs WHERE run_id = ?", (rid,))
        return {phase: tuple(rest) for phase, *rest in rows.fetchall()}


def test_a_study_is_logged_once_with_params_metrics_curve_and_report(tmp_path: Path, cli):
    config = tmp_path / "study.yaml"
    config.write_text(STUDY)
    rundir = tmp_path / "rundir"
    # Runs in worker processes; this process, which stores them, logs them.
    code, out, err = cli("run", config, "--out", rundir, "--track", "mlflow", "--executor", "processes")
    assert code == 0, err
    assert "2 runs logged to MLflow" in out
    client = client_for(rundir)
    runs = adaptlab_runs(client, "rundir")
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    metrics = stored_metrics(rundir / "results.sqlite")
    assert {r.data.tags["adaptlab.run_id"] for r in runs} == set(metrics)
    for run in runs:
        rid = run.data.tags["adaptlab.run_id"]
        params, logged = run.data.params, run.data.metrics
        assert params["model"] == "tiny" and params["dataset"] == "simple-reversals" and params["seed"] == "0"
        assert params["method"] == run.data.tags["adaptlab.method"] and len(params["dataset_sha256"]) == 64
        for (split, metric), (acc, err_) in metrics[rid].items():
            assert logged[f"{split}/{metric}"] == pytest.approx(acc)
            assert logged[f"{split}/{metric}_stderr"] == pytest.approx(err_)
        assert logged["reversal/chance"] == 0.5 and logged["reversal/n"] == 4
        costs = stored_costs(rundir / "results.sqlite", rid)
        assert {"query", "scoring"} <= set(costs)
        for phase, (flops, seconds, tokens_trained) in costs.items():
            assert logged[f"cost/{phase}/flops"] == pytest.approx(flops)
            assert logged[f"cost/{phase}/seconds"] == pytest.approx(seconds)
            assert logged[f"cost/{phase}/tokens_trained"] == tokens_trained
        if params["method"] == "ft":
            assert params["method_options.finetune.steps"] == "6"
            assert logged["cost/finetune/tokens_trained"] > 0
            curve = client.get_metric_history(run.info.run_id, "train/loss")
            assert sorted(m.step for m in curve) == list(range(1, 7))  # a loss logged every step of 6
            assert logged["info/final_loss"] == pytest.approx(curve[-1].value)
        else:
            assert client.get_metric_history(run.info.run_id, "train/loss") == []
        assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["run_info.json"]

    # The same command again: everything stored and tracked, nothing logged twice.
    code, out, err = cli("run", config, "--out", rundir, "--track", "mlflow")
    assert code == 0, err
    assert "0 runs logged to MLflow" in out
    assert sorted(r.info.run_id for r in adaptlab_runs(client, "rundir")) == sorted(r.info.run_id for r in runs)

    # A run whose logging was cut short (left RUNNING) is replaced, not kept beside the new one.
    cut = runs[0]
    client.delete_run(cut.info.run_id)
    exp = client.get_experiment_by_name("rundir").experiment_id
    half = client.create_run(exp, tags={"adaptlab.run_id": cut.data.tags["adaptlab.run_id"], "adaptlab.kind": "run"})
    code, out, err = cli("run", config, "--out", rundir, "--track", "mlflow")
    assert code == 0 and "1 runs logged to MLflow" in out, err
    now = adaptlab_runs(client, "rundir")
    assert len(now) == 2 and half.info.run_id not in {r.info.run_id for r in now}
    assert all(r.info.status == "FINISHED" for r in now)

    # The report, as artifacts of one report run, replaced (not repeated) by the next report.
    for _ in range(2):
        code, out, err = cli("report", rundir, "--track", "mlflow")
        assert code == 0, err
    reports = [r for r in client.search_runs([exp]) if r.data.tags.get("adaptlab.kind") == "report"]
    assert len(reports) == 1
    assert {a.path for a in client.list_artifacts(reports[0].info.run_id)} == {"report.md", "report.html"}


def test_eval_and_the_configs_track_key(tmp_path: Path, cli):
    code, _, err = cli("data", "make", "simple-reversals", "--out", tmp_path / "rev", "--set", "n_facts=4")
    assert code == 0, err
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    args = ("eval", "--model", "tiny", "--data", tmp_path / "rev", "--method", "pretrained", "--limit", "3",
            "--out", tmp_path / "ev")
    # Stored first without tracking: nothing is logged; the same command with tracking logs the stored run.
    code, out, err = cli(*args)
    assert code == 0 and "MLflow" not in out, err
    code, out, err = cli(*args, "--tracking-uri", uri)
    assert code == 0 and "already stored" in out and "1 runs logged to MLflow" in out, err
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    (run,) = adaptlab_runs(client, "ev")
    assert run.data.params["method"] == "pretrained" and "reversal/per_char" in run.data.metrics
    assert not (tmp_path / "ev" / "mlruns").exists()

    config = tmp_path / "study.yaml"
    config.write_text(STUDY.replace("methods: [icl, ft]", "methods: [pretrained]")
                      + "track: {to: mlflow, experiment: mine}\n")
    code, out, err = cli("run", config, "--out", tmp_path / "r2")
    assert code == 0 and "1 runs logged to MLflow" in out, err
    assert len(adaptlab_runs(client_for(tmp_path / "r2"), "mine")) == 1
    assert "track:" in (tmp_path / "r2" / "config.yaml").read_text()


def test_bad_tracking_options_are_one_line(tmp_path: Path, cli):
    config = tmp_path / "study.yaml"
    config.write_text(STUDY)
    code, _, err = cli("run", config, "--out", tmp_path / "r", "--track", "wandb")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--track 'wandb'" in err
    config.write_text(STUDY + "track: {to: tensorboard}\n")
    code, _, err = cli("run", config, "--out", tmp_path / "r")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "track" in err
    assert not (tmp_path / "r").exists()
    # A tracker that cannot be used is one line before any run.
    config.write_text(STUDY)
    code, _, err = cli("run", config, "--out", tmp_path / "r", "--tracking-uri", "bogus://nowhere")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "bogus://nowhere" in err
    assert stored_metrics(tmp_path / "r" / "results.sqlite") == {}
