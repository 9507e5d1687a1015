"""Fixtures and helpers shared by the tests (import the helpers with `from conftest import ...`)."""

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="module")
def tiny():
    """The tiny test model (built into the cache on first use), once per test module."""
    from adaptlab.models import load_model

    return load_model("tiny", device="cpu")


@pytest.fixture
def unpinned_kernels(monkeypatch):
    """The kernel pins (`adaptlab.kernels.PINS`) absent for the test, and whatever it leaves of them removed after.
    `adaptlab demo` pins them in its own process; left behind in this one, they reach every worker process a later
    test starts while this process's torch keeps the kernels it started with, and the two then round differently.
    (`monkeypatch.delenv` of an absent variable records nothing to undo, so each is first set, then deleted.)"""
    from adaptlab.kernels import PINS

    for key in PINS:
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)


def as_dataset(g: Any, name: str) -> Any:
    """A generator's output (`Generated`) as the `Dataset` it would load as, without files."""
    from adaptlab.data.records import Dataset

    return Dataset(name, g.documents, g.questions, g.oracle)


def generated_dataset(name: str, seed: int, **params: Any) -> Any:
    """Generator NAME's world for SEED (with PARAMS) as a `Dataset`."""
    from adaptlab.data.registry import generator

    return as_dataset(generator(name).generate(seed, **params), name)


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run the `adaptlab` command in-process; returns (exit code, stdout, stderr)."""
    from adaptlab.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["adaptlab", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


# ----------------------------------------------------------------------------- `adaptlab` in a child process

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"


def child_env(marker: str = "") -> dict[str, str]:
    """The environment of an `adaptlab` child process: one thread, offline, this checkout's sources. Processes it
    starts (workers, Ray's services) inherit it, so `processes_with(marker)` finds every one of them."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": str(SRC), "ADAPTLAB_TEST_MARKER": marker}


def adaptlab_command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "adaptlab", *map(str, args)]


def processes_with(marker: str) -> list[int]:
    """Processes started with `child_env(marker)`: the driver, and whatever it started that is still alive."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"ADAPTLAB_TEST_MARKER={marker}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def interruptible() -> None:
    """In a child before it starts: Ctrl-C back to the default action. A shell without job control starts its
    background commands with SIGINT ignored, and a Python started that way never raises KeyboardInterrupt, so this
    suite run as `make test &` would test nothing about Ctrl-C (and fail)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Wait for an event another process causes; `timeout` only ends a test that would otherwise hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting, after {timeout:.0f} s, for {what}"
        time.sleep(0.05)


def start_stalled(tmp: Path, saves: int, *args: str | Path, marker: str = "", timeout: float = 300) -> subprocess.Popen:
    """Start `adaptlab ARGS...` (a run into a folder) in its own session and return once it has stored exactly
    `saves` runs and waits to store the next one (tests/stall_after_saves.py): a signal sent now lands at a known
    point, whatever the machine's speed. `tmp`: a folder for the file by which the child says it waits."""
    stalled = Path(tempfile.mkdtemp(prefix="stall-", dir=tmp)) / "stalled"
    proc = subprocess.Popen([sys.executable, str(TESTS / "stall_after_saves.py"), str(saves), str(stalled),
                             *map(str, args)], env=child_env(marker), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=interruptible)

    def stalled_or_ended() -> bool:
        return stalled.exists() or proc.poll() is not None

    wait_until(stalled_or_ended, timeout, f"{saves} runs to be stored")
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    return proc


def stored_runs(db: Path) -> int:
    """Runs stored in a results database (0 before it exists)."""
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=5) as con:
        return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def stored_scores(db: Path) -> dict[str, list[tuple]]:
    """Every stored score row, by run id."""
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT run_id, question_id, split, choice, is_answer, logprob, n_tokens, n_chars, "
                           "null_logprob FROM scores ORDER BY run_id, question_id, choice").fetchall()
    out: dict[str, list[tuple]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(row[1:])
    return out


# ----------------------------------------------------------------------------- the executors' grid

# The grid that the processes and Ray executors run and compare with a sequential run.
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
FAILING_OPTIONS = f"""method_options:
  {FAILING}: {{augmenter: /nonexistent/model}}
"""
N_GOOD = len(GOOD) * 2


def grid_config(folder: Path, extra: str = "", methods: Sequence[str] = (*GOOD, FAILING), name: str = "grid") -> Path:
    """FOLDER/NAME.yaml: the grid of `methods`, with `extra` lines."""
    config = folder / f"{name}.yaml"
    config.write_text(GRID.format(methods=", ".join(methods), extra=extra))
    return config


def assert_finished_with_failures(done: subprocess.CompletedProcess, stored_before: int) -> None:
    """The run that finished the grid: it ran what was missing and reported the failing method on each seed."""
    assert f"{N_GOOD - stored_before} runs done, {stored_before} already stored" in done.stdout.replace("\n", " ")
    failures = [line for line in done.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 2 and all(f"· {FAILING} ·" in line and "/nonexistent/model" in line
                                      for line in failures), done.stderr[-3000:]


def assert_equals_sequential(db: Path, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    """The same grid run sequentially (without the failing method): the same run ids and exactly the same scores."""
    code, _, stderr = cli("run", grid_config(tmp_path, methods=GOOD, name="seq"), "--out", tmp_path / "seq")
    assert code == 0, stderr
    sequential, elsewhere = stored_scores(tmp_path / "seq" / "results.sqlite"), stored_scores(db)
    assert sorted(sequential) == sorted(elsewhere)
    assert sequential == elsewhere
