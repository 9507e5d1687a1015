"""The digest `adaptlab demo` prints: the same for the same stored numbers (whatever the order they were stored in
and whatever else the folder holds), different when any score moves, and never a digest of part of the runs. Also
the kernel pins the demo sets: set before torch, and a value the user set is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from adaptlab.errors import AdaptlabError
from adaptlab.kernels import PINS, pin_kernels
from adaptlab.store import CostRow, RunResult, ScoreRow, Store, scores_digest


def _run(run_id: str, logprobs: list[float], null: float = -3.0) -> RunResult:
    scores = [ScoreRow(f"q{i // 2}", "reversal", i % 2, i % 2 == 0, lp, 5, 20, null) for i, lp in enumerate(logprobs)]
    return RunResult(run_id=run_id, model="m", dataset="d", method="ft", seed=0, config={}, scores=scores, metrics=[],
                     costs=[CostRow("finetune", "one_off", seconds=float(len(run_id)))])


def _digest(folder: Path, runs: list[RunResult], ids: list[str]) -> str:
    with Store(folder / "results.sqlite") as store:
        for run in runs:
            store.save(run)
    return scores_digest(folder / "results.sqlite", ids)


A = [-12.3456781, -15.25, -7.0, -8.5]
B = [-20.125, -19.875]


def test_same_numbers_same_digest_whatever_the_order_and_the_other_runs(tmp_path: Path):
    one = _digest(tmp_path / "1", [_run("a", A), _run("b", B)], ["a", "b"])
    other = _digest(tmp_path / "2", [_run("b", B), _run("x", [-1.0, -2.0]), _run("a", A)], ["b", "a"])
    assert one == other and len(one) == 64


@pytest.mark.parametrize("change", [1e-5, 2e-6, -1e-6])
def test_any_move_of_a_score_changes_it(tmp_path: Path, change: float):
    base = _digest(tmp_path / "1", [_run("a", A)], ["a"])
    moved = _digest(tmp_path / "2", [_run("a", [A[0] + change, *A[1:]])], ["a"])
    assert moved != base
    assert _digest(tmp_path / "3", [_run("a", A, null=-3.0 + change)], ["a"]) != base


def test_below_the_sixth_decimal_is_the_same_number(tmp_path: Path):
    """-12.3456781 and -12.34567811 both write as -12.345678: a float widened or printed otherwise is no change."""
    base = _digest(tmp_path / "1", [_run("a", A)], ["a"])
    assert _digest(tmp_path / "2", [_run("a", [A[0] - 1e-8, *A[1:]])], ["a"]) == base


def test_a_run_that_is_not_stored_is_an_error(tmp_path: Path):
    with pytest.raises(AdaptlabError, match="not stored"):
        _digest(tmp_path, [_run("a", A)], ["a", "b"])


def test_pins_are_set_unless_the_user_set_them(monkeypatch: pytest.MonkeyPatch, unpinned_kernels: None):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    pins = pin_kernels()
    assert pins == {**PINS, "ATEN_CPU_CAPABILITY": "default"} and os.environ["MKL_CBWR"] == PINS["MKL_CBWR"]


def test_the_demo_command_pins_before_torch_is_imported():
    """`adaptlab demo` sets the pins before any import of torch: the CLI module itself must not import it."""
    code = "import sys, adaptlab.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
