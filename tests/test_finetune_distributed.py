"""`adaptlab finetune` across processes, for real: torchrun with 2 gloo processes on CPU (one thread each) gives the
loss curve of one process with the same global batch and seed, for full fine-tuning and LoRA; the shipped
accelerate config starts 2 processes (not the one that `--cpu` would); and `adaptlab run` then evaluates the
trained models instead of training again — from a one-process fine-tune, with exactly the scores of a run that
trains in-process."""

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import child_env

ROOT = Path(__file__).resolve().parents[1]
# 12 documents, unsplit (ft and ft+rag): 12 examples, a multiple of the global batch of 4 — so every step of every
# epoch is a full batch in one process and in two (with a partial last batch, accelerate fills the processes'
# last batches by wrapping around, and the curves part after the first epoch).
CONFIG = """
models: [tiny]
datasets:
  - name: simple-reversals
    params: {n_facts: 6, articles_per_fact: 2}
methods: [ft, ft+rag]
seeds: [0]
options:
  finetune: {steps: 20, batch_size: 4, learning_rate: 1.0e-3, warmup_steps: 2, save_steps: 1000}
method_options:
  ft: {finetune: {mode: full}}
  ft+rag: {finetune: {mode: lora}}
"""
# Loss difference allowed between one and two processes: float rounding (the two ranks' gradients are summed in
# another order). Measured here: 1.9e-6 (full), 9.5e-7 (LoRA) over 20 steps.
TOLERANCE = 1e-4


def _run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done


def _finetune(*launcher: str, config: Path, out: Path, only: str | None = None) -> None:
    _run([*launcher, "-m", "adaptlab", "finetune", str(config), "--out", str(out),
          *(["--only", only] if only else [])])


def _records(out: Path) -> dict[str, dict]:
    """trained.json by method (the run folder is named after the run id, with `+` as `_`)."""
    return {("ft+rag" if "_ft_rag_" in p.parent.parent.name else "ft"): json.loads(p.read_text())
            for p in out.glob("work/*/trained/trained.json")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_give_one_process_loss_curve_and_run_evaluates_the_trained_model(tmp_path: Path, cli,
                                                                                      monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the in-process runs: one thread, as the launched processes
    config = tmp_path / "ft.yaml"
    config.write_text(CONFIG)
    one, two = tmp_path / "one", tmp_path / "two"
    _finetune(sys.executable, config=config, out=one)
    _finetune(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
              config=config, out=two)

    alone, together = _records(one), _records(two)
    assert sorted(alone) == sorted(together) == ["ft", "ft+rag"]
    for method, mode in (("ft", "full"), ("ft+rag", "lora")):
        a, b = alone[method], together[method]
        assert (a["processes"], b["processes"]) == (1, 2)
        assert a["info"]["finetune"]["mode"] == mode
        assert [s for s, _ in a["losses"]] == [s for s, _ in b["losses"]] == list(range(1, 21))
        gap = max(abs(x - y) for (_, x), (_, y) in zip(a["losses"], b["losses"], strict=True))
        assert gap <= TOLERANCE, f"{mode}: loss curves differ by {gap}"
        assert a["losses"][-1][1] < a["losses"][0][1] - 0.5  # it learned something

    # The run evaluates what `adaptlab finetune` trained (no second training) ...
    for out, processes in ((one, 1), (two, 2)):
        code, _, stderr = cli("run", config, "--out", out)
        assert code == 0, stderr
        with sqlite3.connect(out / "results.sqlite") as con:
            infos = [json.loads(r[0]) for r in con.execute("SELECT info FROM runs")]
        assert [i["trained_by_processes"] for i in infos] == [processes, processes]
    # ... and from the one-process fine-tune scores exactly as a run that fine-tunes in-process.
    code, _, stderr = cli("run", config, "--out", tmp_path / "in-process")
    assert code == 0, stderr

    def scores(out: Path) -> list[tuple]:
        with sqlite3.connect(out / "results.sqlite") as con:
            return con.execute("SELECT run_id, question_id, choice, logprob, null_logprob FROM scores "
                               "ORDER BY run_id, question_id, choice").fetchall()

    assert scores(one) == scores(tmp_path / "in-process")
    close = [(a[:3] == b[:3], abs(a[3] - b[3])) for a, b in zip(scores(one), scores(two), strict=True)]
    assert all(same for same, _ in close) and max(d for _, d in close) < 1e-3


def test_shipped_accelerate_config_starts_two_processes(tmp_path: Path):
    config = tmp_path / "ft.yaml"
    config.write_text(CONFIG)
    accelerate = Path(sys.executable).with_name("accelerate")
    _finetune(str(accelerate), "launch", "--config_file", str(ROOT / "configs/accelerate/ddp_cpu.yaml"),
              "--main_process_port", str(_free_port()), config=config, out=tmp_path / "acc", only="· ft ·")
    records = _records(tmp_path / "acc")
    assert list(records) == ["ft"] and records["ft"]["processes"] == 2
