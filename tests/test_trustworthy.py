"""Nothing stored is silently replaced or thrown away: a result's identity covers everything that changes it, the
same experiment has the same identity from `eval` and `run`, one process at a time works in a results folder,
and a bad `--out` or seed stops before any work. Ties between choices are scored as chance, not as a win."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from adaptlab.data.records import Question
from adaptlab.data.registry import make_dataset
from adaptlab.evaluate import METRICS, Scored, accuracy_rows
from adaptlab.store import Store, exclusive


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data") / "rev"
    make_dataset("simple-reversals", 0, folder, {"n_facts": 6, "articles_per_fact": 1})
    return folder


def _score_rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        return dict(con.execute("SELECT run_id, COUNT(*) FROM scores GROUP BY run_id").fetchall())


def test_a_limited_eval_or_another_draw_never_replaces_a_stored_result(cli, data: Path, tmp_path: Path):
    out = tmp_path / "out"
    assert cli("eval", "--model", "tiny", "--data", data, "--out", out)[0] == 0
    full = _score_rows(out / "results.sqlite")
    assert list(full.values()) == [6 * 2 * 2]  # 6 questions per split × 2 splits × 2 choices
    assert cli("eval", "--model", "tiny", "--data", data, "--out", out, "--limit", "2")[0] == 0
    other = tmp_path / "other" / "rev"  # same dataset name, another draw
    make_dataset("simple-reversals", 1, other, {"n_facts": 6, "articles_per_fact": 1})
    assert cli("eval", "--model", "tiny", "--data", other, "--out", out)[0] == 0
    stored = _score_rows(out / "results.sqlite")
    assert len(stored) == 3
    assert all(stored[rid] == n for rid, n in full.items())  # the first result is intact
    assert sorted(stored.values()) == [8, 24, 24]


def test_eval_and_run_give_the_same_experiment_the_same_identity(cli, data: Path, tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(f"models: [tiny]\ndatasets: [{{path: {data}}}]\nmethods: [icl]\nseeds: [0]\nlimit: 3\n")
    out = tmp_path / "out"
    assert cli("run", config, "--out", out)[0] == 0
    code, stdout, _ = cli("eval", "--model", "tiny", "--data", data, "--method", "icl", "--limit", "3", "--out", out)
    assert code == 0 and "already stored" in stdout
    assert len(_score_rows(out / "results.sqlite")) == 1


def test_rerunning_the_same_eval_recomputes_nothing(cli, data: Path, tmp_path: Path):
    out = tmp_path / "out"
    cli("eval", "--model", "tiny", "--data", data, "--out", out)
    code, stdout, _ = cli("eval", "--model", "tiny", "--data", data, "--out", out)
    assert code == 0 and "already stored" in stdout and "reversal" in stdout


def test_a_second_process_on_the_same_folder_stops_with_one_line(cli, data: Path, tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(f"models: [tiny]\ndatasets: [{{path: {data}}}]\nmethods: [pretrained]\n")
    out = tmp_path / "out"
    with exclusive(out):
        code, _, err = cli("run", config, "--out", out)
        assert code == 2 and "in use by adaptlab process" in err and len(err.strip().splitlines()) == 1
        code, _, err = cli("eval", "--model", "tiny", "--data", data, "--out", out)
        assert code == 2 and "in use" in err
    assert not (out / "results.sqlite").exists()
    assert cli("run", config, "--out", out)[0] == 0  # the lock went with its holder


@pytest.mark.parametrize("case", ["out-is-a-file", "seed-too-large", "corrupt-store"])
def test_eval_checks_its_output_and_seed_before_any_work(cli, data: Path, tmp_path: Path, case: str, monkeypatch):
    import adaptlab.models.registry as registry

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad input was found")

    monkeypatch.setattr(registry, "load_model", never)
    out = tmp_path / "out"
    args = ["eval", "--model", "tiny", "--data", data, "--out", out]
    if case == "out-is-a-file":
        out.write_text("not a folder")
    elif case == "seed-too-large":
        args += ["--seed", "99999999999999999999999"]
    else:
        out.mkdir()
        (out / "results.sqlite").write_bytes(b"this is not a database" * 100)
    code, _, err = cli(*args)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_failing_config_does_not_overwrite_the_stored_config(cli, data: Path, tmp_path: Path):
    out = tmp_path / "out"
    good = tmp_path / "good.yaml"
    good.write_text(f"models: [tiny]\ndatasets: [{{path: {data}}}]\nmethods: [pretrained]\n")
    assert cli("run", good, "--out", out)[0] == 0
    saved = (out / "config.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"models: [tiny]\ndatasets: [{{path: {tmp_path / 'missing'}}}]\nmethods: [pretrained]\n")
    code, _, err = cli("run", bad, "--out", out)
    assert code == 2 and "missing" in err
    assert (out / "config.yaml").read_text() == saved
    other = tmp_path / "other.yaml"
    other.write_text(f"models: [tiny]\ndatasets: [{{path: {data}}}]\nmethods: [icl]\n")
    assert cli("run", other, "--out", out)[0] == 0
    assert (out / "config-1.yaml").read_text() == saved  # an earlier config is kept, not replaced


def _question(answer: int, k: int = 4) -> Question:
    return Question(id=f"q{answer}", prompt="p", choices=[f"c{i}" for i in range(k)], answer=answer, split="s")


def test_ties_are_credited_as_chance_and_counted():
    same = [Scored(-1.0, 1, 2, -1.0)] * 4
    questions = [_question(0), _question(1)]
    rows = accuracy_rows(questions, [same, same])
    assert {r.metric for r in rows} == set(METRICS)
    for row in rows:
        assert row.accuracy == pytest.approx(0.25) and row.ties == 2 and row.stderr == pytest.approx(0.0)
    # a clear win for the answer, a clear loss, and a two-way tie that includes the answer
    win = [Scored(-1.0, 1, 2, -1.0), *[Scored(-5.0, 1, 2, -1.0)] * 3]
    tie = [Scored(-1.0, 1, 2, -1.0), Scored(-1.0, 1, 2, -1.0), *[Scored(-5.0, 1, 2, -1.0)] * 2]
    rows = accuracy_rows([_question(0), _question(3), _question(1)], [win, win, tie])
    total = next(r for r in rows if r.metric == "sum")
    assert total.accuracy == pytest.approx((1 + 0 + 0.5) / 3) and total.ties == 1
    credits = [1, 0, 0.5]
    mean = sum(credits) / 3
    assert total.stderr == pytest.approx((sum((c - mean) ** 2 for c in credits) / 3 / 3) ** 0.5)


def test_a_store_written_before_ties_were_counted_still_opens(tmp_path: Path):
    db = tmp_path / "results.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE metrics (run_id TEXT NOT NULL, split TEXT NOT NULL, metric TEXT NOT NULL, "
                    "accuracy REAL NOT NULL, stderr REAL NOT NULL, chance REAL NOT NULL, n INTEGER NOT NULL, "
                    "PRIMARY KEY (run_id, split, metric))")
        con.execute("INSERT INTO metrics VALUES ('r', 's', 'sum', 0.5, 0.1, 0.5, 10)")
    with Store(db) as store:
        assert store.metrics()[0]["ties"] == 0


def test_stored_result_round_trips(cli, data: Path, tmp_path: Path):
    out = tmp_path / "out"
    cli("eval", "--model", "tiny", "--data", data, "--out", out)
    with Store(out / "results.sqlite") as store:
        (run,) = store.runs()
        result = store.result(run["run_id"])
    assert result.method == "pretrained" and len(result.scores) == 24 and result.metrics and result.costs
    shutil.rmtree(out)
