"""`adaptlab run --executor processes`: runs side by side in 2 real worker processes (spawned, one thread each).
The stored scores equal a sequential run's exactly (augmented runs sharing the generation cache included), a
method that fails is reported per run while the others go on, Ctrl-C leaves what is stored, and the same command
then finishes only what is missing."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from test_runs_ray import (
    FAILING,
    GOOD,
    GRID,
    N_GOOD,
    _env,
    _processes,
    _stored,
    assert_equals_sequential,
    assert_finished_with_failures,
    interruptible,
)

EXTRA = f"""method_options:
  {FAILING}: {{augmenter: /nonexistent/model}}
workers: 2
"""


def _run(config: Path, out: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "adaptlab", "run", str(config), "--out", str(out), *flags]


def test_processes_equal_sequential_report_failures_and_resume_after_ctrl_c(tmp_path: Path, cli, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the in-process sequential run: one thread, as each worker
    config = tmp_path / "grid.yaml"
    config.write_text(GRID.format(methods=", ".join([*GOOD, FAILING]), extra=EXTRA))
    out = tmp_path / "processes"
    db = out / "results.sqlite"

    # Ctrl-C once a run is stored: exit 130, what is stored stays, and no worker outlives the driver
    marker = f"processes-{os.getpid()}"
    proc = subprocess.Popen(_run(config, out, "--executor", "processes"), env=_env(marker), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=interruptible)
    deadline = time.time() + 300
    while _stored(db) < 1 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    os.killpg(proc.pid, signal.SIGINT)  # as the terminal does: the driver and its workers
    assert proc.wait(timeout=60) == 130, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    deadline = time.time() + 30
    while _processes(marker) and time.time() < deadline:
        time.sleep(0.2)
    assert not _processes(marker), "a worker process outlived the interrupted driver"
    interrupted_at = _stored(db)
    assert 1 <= interrupted_at < N_GOOD

    # the same command finishes the grid: the failing method reported per run, exit code 2
    done = subprocess.run(_run(config, out, "--executor", "processes"), env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 2, done.stderr[-3000:]
    assert_finished_with_failures(done, interrupted_at)
    with sqlite3.connect(db) as con:
        runs = [r[0] for r in con.execute("SELECT run_id FROM runs")]
    assert len(runs) == len(set(runs)) == N_GOOD

    assert_equals_sequential(db, tmp_path, cli)


def test_workers_must_be_positive(tmp_path: Path, cli):
    config = tmp_path / "grid.yaml"
    config.write_text(GRID.format(methods="pretrained", extra="workers: 0\n"))
    code, _, err = cli("run", config, "--out", tmp_path / "a", "--executor", "processes")
    assert code == 2 and "workers" in err and len(err.strip().splitlines()) == 1
