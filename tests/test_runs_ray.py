"""`adaptlab run --executor ray` on a real local Ray (2 CPUs, one thread per worker): the driver is killed with
SIGKILL mid-grid, then interrupted with SIGINT (Ctrl-C), then finishes the grid while one method fails on every
seed; the stored scores equal a sequential run's exactly (augmented runs sharing the generation cache included),
and each run is stored once."""

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

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

RAY_EXTRA = f"""{FAILING_OPTIONS}executor: ray
ray: {{num_cpus: 2}}
"""


def test_ray_grid_survives_kill_and_ctrl_c_reports_failures_and_equals_sequential(tmp_path: Path, cli, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the in-process sequential run: one thread, as the Ray workers
    config = grid_config(tmp_path, RAY_EXTRA)
    out = tmp_path / "ray"
    db = out / "results.sqlite"
    command = ("run", config, "--out", out, "--executor", "ray")
    killed, interrupted = f"killed-{os.getpid()}", f"interrupted-{os.getpid()}"
    try:
        # 1. kill -9 mid-grid: once one run is stored, with the next one's result arrived and about to be stored
        proc = start_stalled(tmp_path, 1, *command, marker=killed)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert stored_runs(db) == 1

        # 2. Ctrl-C once one more run is stored: exits 130 promptly, cancels its tasks and stops the Ray it started
        proc = start_stalled(tmp_path, 1, *command, marker=interrupted)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        wait_until(lambda: not processes_with(interrupted), 30, "Ray's processes and workers to end with the driver")
        assert stored_runs(db) == 2

        # 3. finish (by the config's `executor: ray`, no flag): the failing method is reported per run, every
        # other run is stored, exit code 2
        done = subprocess.run(adaptlab_command(*command[:4]), env=child_env(), capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 2, done.stderr[-3000:]
        assert_finished_with_failures(done, 2)
        assert f"error: 2 of {N_GOOD + 2} runs failed" in done.stderr.replace("\n", " ")
    finally:
        # Ray's helpers left by the killed driver (they would exit on their own within a minute)
        for pid in processes_with(killed) + processes_with(interrupted):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    with sqlite3.connect(db) as con:
        runs = [r[0] for r in con.execute("SELECT run_id FROM runs")]
        assert len(runs) == len(set(runs)) == N_GOOD
        orphans = con.execute("SELECT COUNT(*) FROM scores WHERE run_id NOT IN (SELECT run_id FROM runs)").fetchone()
        assert orphans[0] == 0

    assert_equals_sequential(db, tmp_path, cli)


def test_executor_usage_errors_are_one_line(tmp_path: Path, cli, monkeypatch):
    config = grid_config(tmp_path, methods=["pretrained"])
    code, _, err = cli("run", config, "--out", tmp_path / "a", "--address", "auto")
    assert code == 2 and err.strip() == "error: --address is the address of a Ray cluster: it needs --executor ray"
    code, _, err = cli("run", config, "--out", tmp_path / "b", "--executor", "dask")
    assert code == 2 and "unknown executor 'dask'" in err and len(err.strip().splitlines()) == 1
    bad = grid_config(tmp_path, "ray: {resources: {ft: {num_gpus: 1}}}", methods=["pretrained"], name="bad")
    code, _, err = cli("run", bad, "--out", tmp_path / "c", "--executor", "ray")
    assert code == 2 and "ray.resources names 'ft', which is neither `default` nor in methods" in err
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    code, _, err = cli("run", config, "--out", tmp_path / "e", "--executor", "ray", "--address", f"127.0.0.1:{port}")
    assert code == 2 and f"no Ray cluster answers at 127.0.0.1:{port}" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the `ray` extra were not installed
    code, _, err = cli("run", config, "--out", tmp_path / "d", "--executor", "ray")
    assert code == 2 and "pip install 'adaptlab[ray]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d" / "results.sqlite").exists()  # nothing started
