"""`adaptlab run` is resumable: after `kill -9` in the middle of a multi-run config, the same command finishes the
job and the SQLite store holds every result exactly once."""

import signal
import sqlite3
import subprocess
from pathlib import Path

from conftest import adaptlab_command, child_env, start_stalled, stored_runs

CONFIG = """
models: [tiny]
datasets:
  - name: simple-reversals
    params: {n_facts: 6, articles_per_fact: 2}
  - name: simple-syllogisms
    params: {n_examples: 6}
methods: [pretrained, icl, rag]
seeds: [0, 1]
"""
RUNS = 2 * 3 * 2
KILLED_AT = 3


def test_kill_9_then_rerun_stores_every_result_exactly_once(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    db = out / "results.sqlite"
    command = ("run", config, "--out", out)
    # kill -9 once 3 runs are stored, with the 4th run's result done and about to be stored
    proc = start_stalled(tmp_path, KILLED_AT, *command)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert stored_runs(db) == KILLED_AT

    done = subprocess.run(adaptlab_command(*command), env=child_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{RUNS - KILLED_AT} runs done, {KILLED_AT} already stored" in done.stdout.replace("\n", " ")

    with sqlite3.connect(db) as con:
        runs = con.execute("SELECT run_id FROM runs").fetchall()
        assert len(runs) == len(set(runs)) == RUNS
        # every question's every choice exactly once per run
        dupes = con.execute(
            "SELECT COUNT(*) FROM (SELECT run_id, question_id, choice, COUNT(*) c FROM scores "
            "GROUP BY 1, 2, 3 HAVING c > 1)"
        ).fetchone()[0]
        assert dupes == 0
        orphans = con.execute("SELECT COUNT(*) FROM scores WHERE run_id NOT IN (SELECT run_id FROM runs)").fetchone()
        assert orphans[0] == 0
        per_run = con.execute("SELECT run_id, COUNT(*) FROM scores GROUP BY run_id").fetchall()
        assert len(per_run) == RUNS and all(n > 0 for _, n in per_run)
        metrics = con.execute("SELECT COUNT(DISTINCT run_id) FROM metrics").fetchone()[0]
        assert metrics == RUNS

    again = subprocess.run(adaptlab_command(*command), env=child_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"0 runs done, {RUNS} already stored" in again.stdout.replace("\n", " ")
