"""The same grid of one-thread runs, sequential vs on a local Ray with 2 workers, side by side in one invocation.

    OMP_NUM_THREADS=1 python benchmarks/grid.py [--model organism] [--seeds 3] [--steps 300] [--workers 2]
                                                [--processes]

Each executor runs the whole grid into a fresh run folder as `adaptlab run` does (the Ray time includes starting
Ray and its workers loading the model: what a user waits for). Prints both wall-clock times, their ratio (expect
close to the number of workers on as many idle cores, less Ray's start), whether the stored scores are identical,
and the load average before and after (other processes on the machine slow both). Needs the `ray` extra.
`--processes` also runs the grid with the `processes` executor (as many worker processes, no Ray): the same
parallelism without Ray's start and daemons, so the two ratios side by side say what Ray itself costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def grid(model: str, seeds: int, steps: int, workers: int) -> dict:
    return {
        "models": [model],
        "datasets": [{"name": "simple-reversals", "params": {"n_facts": 10, "articles_per_fact": 1}},
                     {"name": "simple-syllogisms", "params": {"n_examples": 8}}],
        "methods": ["pretrained", "icl", "ft", "aug-oracle-ft"],
        "seeds": list(range(seeds)),
        "options": {"finetune": {"mode": "full", "steps": steps, "batch_size": 8, "learning_rate": 2e-3,
                                 "save_steps": 10_000}},
        "ray": {"num_cpus": workers},
    }


def run(config: Path, out: Path, executor: str) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "adaptlab", "run", str(config), "--out", str(out),
                           "--executor", executor], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{executor} failed:\n{done.stderr[-2000:]}")
    return seconds


def scores(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT run_id, question_id, choice, logprob, null_logprob FROM scores "
                           "ORDER BY run_id, question_id, choice").fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="organism")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps per ft run")
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray (one run each)")
    parser.add_argument("--processes", action="store_true", help="also the processes executor (no Ray)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    folder = Path(tempfile.mkdtemp(prefix="adaptlab-grid-"))
    try:
        config = folder / "grid.yaml"
        spec = grid(args.model, args.seeds, args.steps, args.workers)
        config.write_text(yaml.safe_dump(spec, sort_keys=False))
        n_runs = len(spec["datasets"]) * len(spec["methods"]) * len(spec["seeds"])
        print(f"grid: {args.model} × 2 datasets × {len(spec['methods'])} methods × {args.seeds} seeds = {n_runs} runs, "
              f"one thread each; {os.cpu_count()} CPUs; load average before {os.getloadavg()}", flush=True)
        sequential = run(config, folder / "sequential", "sequential")
        print(f"sequential: {sequential:.1f} s   load average {os.getloadavg()}", flush=True)
        on_ray = run(config, folder / "ray", "ray")
        print(f"ray, {args.workers} workers: {on_ray:.1f} s   load average {os.getloadavg()}", flush=True)
        same = scores(folder / "sequential" / "results.sqlite") == scores(folder / "ray" / "results.sqlite")
        print(f"speed-up {sequential / on_ray:.2f}× (sequential / ray); stored scores identical: {same}")
        if args.processes:
            spec["workers"] = args.workers
            config.write_text(yaml.safe_dump(spec, sort_keys=False))
            local = run(config, folder / "processes", "processes")
            print(f"processes, {args.workers} workers: {local:.1f} s   load average {os.getloadavg()}", flush=True)
            same = scores(folder / "sequential" / "results.sqlite") == scores(folder / "processes" / "results.sqlite")
            print(f"speed-up {sequential / local:.2f}× (sequential / processes); stored scores identical: {same}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
