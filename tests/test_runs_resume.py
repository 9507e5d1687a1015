"""`adaptlab run` is resumable: after `kill -9` in the middle of a multi-run config, the same command finishes the
job and the SQLite store holds every result exactly once."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

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


def _command(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "adaptlab", "run", str(config), "--out", str(out)]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _stored_runs(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_9_then_rerun_stores_every_result_exactly_once(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    db = out / "results.sqlite"
    proc = subprocess.Popen(_command(config, out), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while _stored_runs(db) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    proc.send_signal(signal.SIGKILL)  # in the middle of the next run
    proc.wait()
    killed_at = _stored_runs(db)
    assert 3 <= killed_at < RUNS

    done = subprocess.run(_command(config, out), env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{RUNS - killed_at} runs done, {killed_at} already stored" in done.stdout.replace("\n", " ")

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

    again = subprocess.run(_command(config, out), env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"0 runs done, {RUNS} already stored" in again.stdout.replace("\n", " ")
