"""`adaptlab run --executor processes`: runs side by side in 2 real worker processes (spawned, one thread each).
The stored scores equal a sequential run's exactly (augmented runs sharing the generation cache included), a
method that fails is reported per run while the others go on, Ctrl-C leaves what is stored, and the same command
then finishes only what is missing."""

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

from conftest import (
    FAILING_OPTIONS,
    N_GOOD,
    adaptlab_command,
    assert_equals_sequential,
    assert_finished_with_failures,
    child_env,
    grid_config,
    processes_with,
    start_stalled,
    stored_runs,
    wait_until,
)

EXTRA = f"""{FAILING_OPTIONS}workers: 2
"""


def test_processes_equal_sequential_report_failures_and_resume_after_ctrl_c(tmp_path: Path, cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the in-process sequential run: one thread, as each worker
    config = grid_config(tmp_path, EXTRA)
    out = tmp_path / "processes"
    db = out / "results.sqlite"
    command = ("run", config, "--out", out, "--executor", "processes")

    # Ctrl-C once a run is stored (and the next result is about to be): exit 130, what is stored stays, and no
    # worker outlives the driver
    marker = f"processes-{os.getpid()}"
    proc = start_stalled(tmp_path, 1, *command, marker=marker)
    os.killpg(proc.pid, signal.SIGINT)  # as the terminal does: the driver and its workers
    assert proc.wait(timeout=60) == 130, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    wait_until(lambda: not processes_with(marker), 30, "the workers to end with the interrupted driver")
    assert stored_runs(db) == 1

    # the same command finishes the grid: the failing method reported per run, exit code 2
    done = subprocess.run(adaptlab_command(*command), env=child_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr[-3000:]
    assert_finished_with_failures(done, 1)
    with sqlite3.connect(db) as con:
        runs = [r[0] for r in con.execute("SELECT run_id FROM runs")]
    assert len(runs) == len(set(runs)) == N_GOOD

    assert_equals_sequential(db, tmp_path, cli)


def test_workers_must_be_positive(tmp_path: Path, cli):
    config = grid_config(tmp_path, "workers: 0\n", methods=["pretrained"])
    code, _, err = cli("run", config, "--out", tmp_path / "a", "--executor", "processes")
    assert code == 2 and "workers" in err and len(err.strip().splitlines()) == 1
