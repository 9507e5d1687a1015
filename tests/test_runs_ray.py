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
import time
from pathlib import Path

import pytest

GRID = """
models: [tiny]
datasets:
  - name: simple-reversals
    params: {{n_facts: 6, articles_per_fact: 2}}
methods: [{methods}]
seeds: [0, 1]
options:
  finetune: {{mode: full, steps: 12, batch_size: 4, save_steps: 1000}}
  augment: {{max_new_tokens_local: 12, max_new_tokens_global: 12}}
{extra}
"""
# aug-ft and aug-global-ft generate the same global augmentations concurrently into the shared cache.
GOOD = ["pretrained", "icl", "rag", "ft", "aug-oracle-ft", "aug-ft", "aug-global-ft"]
# Fails in its task (the augmenter cannot be loaded) — on every seed, while the other runs go on.
FAILING = "aug-local-ft"
RAY_EXTRA = f"""method_options:
  {FAILING}: {{augmenter: /nonexistent/model}}
executor: ray
ray: {{num_cpus: 2}}
"""
N_GOOD = len(GOOD) * 2


def _env(marker: str = "") -> dict[str, str]:
    """The driver's environment; Ray's processes inherit it, so `marker` finds every one of them."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "ADAPTLAB_TEST_RAY": marker}


def _processes(marker: str) -> list[int]:
    """Processes (the driver, Ray's services, its workers) started with this marker in their environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"ADAPTLAB_TEST_RAY={marker}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _command(config: Path, out: Path, flag: bool = True) -> list[str]:
    """`adaptlab run` with `--executor ray`, or (flag False) with the config's `executor: ray`."""
    return [sys.executable, "-m", "adaptlab", "run", str(config), "--out", str(out),
            *(["--executor", "ray"] if flag else [])]


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def interruptible() -> None:
    """In a child before it starts: Ctrl-C back to the default action. A shell without job control starts its
    background commands with SIGINT ignored, and a Python started that way never raises KeyboardInterrupt, so this
    suite run as `make test &` would test nothing about Ctrl-C (and fail)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_and_signal(config: Path, out: Path, sig: int, after: int, marker: str) -> subprocess.Popen:
    """Start the Ray driver; send `sig` once more than `after` runs are stored."""
    proc = subprocess.Popen(_command(config, out), env=_env(marker), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=interruptible)
    deadline = time.time() + 300
    while _stored(out / "results.sqlite") <= after and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    proc.send_signal(sig)
    return proc


def _scores(db: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT run_id, question_id, split, choice, is_answer, logprob, n_tokens, n_chars, "
                           "null_logprob FROM scores ORDER BY run_id, question_id, choice").fetchall()
    out: dict[str, list[tuple]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(row[1:])
    return out


def assert_finished_with_failures(done: subprocess.CompletedProcess, stored_before: int) -> None:
    """The run that finished the grid: it ran what was missing and reported the failing method on each seed."""
    assert f"{N_GOOD - stored_before} runs done, {stored_before} already stored" in done.stdout.replace("\n", " ")
    failures = [line for line in done.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 2 and all(f"· {FAILING} ·" in line and "/nonexistent/model" in line
                                      for line in failures), done.stderr[-3000:]


def assert_equals_sequential(db: Path, tmp_path: Path, cli) -> None:
    """The same grid run sequentially (without the failing method): the same run ids and exactly the same scores."""
    seq_config = tmp_path / "seq.yaml"
    seq_config.write_text(GRID.format(methods=", ".join(GOOD), extra=""))
    code, _, stderr = cli("run", seq_config, "--out", tmp_path / "seq")
    assert code == 0, stderr
    sequential, elsewhere = _scores(tmp_path / "seq" / "results.sqlite"), _scores(db)
    assert sorted(sequential) == sorted(elsewhere)
    assert sequential == elsewhere


def test_ray_grid_survives_kill_and_ctrl_c_reports_failures_and_equals_sequential(tmp_path: Path, cli, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the in-process sequential run: one thread, as the Ray workers
    config = tmp_path / "ray.yaml"
    config.write_text(GRID.format(methods=", ".join([*GOOD, FAILING]), extra=RAY_EXTRA))
    out = tmp_path / "ray"
    db = out / "results.sqlite"
    killed, interrupted = f"killed-{os.getpid()}", f"interrupted-{os.getpid()}"
    try:
        # 1. kill -9 mid-grid
        proc = _start_and_signal(config, out, signal.SIGKILL, after=0, marker=killed)
        proc.wait()
        killed_at = _stored(db)
        assert 1 <= killed_at < N_GOOD

        # 2. Ctrl-C: exits 130 promptly, cancels its tasks and stops the Ray it started
        proc = _start_and_signal(config, out, signal.SIGINT, after=killed_at, marker=interrupted)
        assert proc.wait(timeout=60) == 130
        deadline = time.time() + 30
        while _processes(interrupted) and time.time() < deadline:
            time.sleep(0.2)
        assert not _processes(interrupted), "Ray's processes or workers outlived the interrupted driver"
        interrupted_at = _stored(db)
        assert killed_at < interrupted_at <= N_GOOD

        # 3. finish (by the config's `executor: ray`, no flag): the failing method is reported per run, every
        # other run is stored, exit code 2
        done = subprocess.run(_command(config, out, flag=False), env=_env(), capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 2, done.stderr[-3000:]
        assert_finished_with_failures(done, interrupted_at)
        assert f"error: 2 of {N_GOOD + 2} runs failed" in done.stderr.replace("\n", " ")
    finally:
        # Ray's helpers left by the killed driver (they would exit on their own within a minute)
        for pid in _processes(killed) + _processes(interrupted):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    with sqlite3.connect(db) as con:
        runs = [r[0] for r in con.execute("SELECT run_id FROM runs")]
        assert len(runs) == len(set(runs)) == N_GOOD
        orphans = con.execute("SELECT COUNT(*) FROM scores WHERE run_id NOT IN (SELECT run_id FROM runs)").fetchone()
        assert orphans[0] == 0

    assert_equals_sequential(db, tmp_path, cli)


def test_executor_usage_errors_are_one_line(tmp_path: Path, cli, monkeypatch):
    config = tmp_path / "grid.yaml"
    config.write_text(GRID.format(methods="pretrained", extra=""))
    code, _, err = cli("run", config, "--out", tmp_path / "a", "--address", "auto")
    assert code == 2 and err.strip() == "error: --address is the address of a Ray cluster: it needs --executor ray"
    code, _, err = cli("run", config, "--out", tmp_path / "b", "--executor", "dask")
    assert code == 2 and "unknown executor 'dask'" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(GRID.format(methods="pretrained", extra="ray: {resources: {ft: {num_gpus: 1}}}"))
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
