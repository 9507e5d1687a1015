"""Which CPU-kernel settings make the organism's fine-tuned scores identical whatever instruction set the kernels
use: a small organism study (`pretrained` and `ft` on one simple-reversals world, a short fine-tuning run) in a
fresh process per environment setting, compared with the first setting (max abs difference of the stored
log-likelihoods, in nats) and timed.

    PYTHONPATH=src python benchmarks/kernel_pinning.py [--steps 60] [--out /tmp/kernel_pinning]
    PYTHONPATH=src python benchmarks/kernel_pinning.py --steps 300 --forced "" --rounds 2   # the cost of each pin

Each line of settings is a list of VAR=value pairs set before torch is imported (in that process, and inherited
by any worker it spawns). The load average is printed beside every time: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

CONFIG = """models: [organism]
datasets:
  - name: simple-reversals
    params: {{n_facts: 16, articles_per_fact: 3}}
methods: [pretrained, ft]
seeds: [0]
options:
  finetune: {{mode: full, steps: {steps}, batch_size: 16, learning_rate: 5.0e-3, warmup_steps: 10, save_steps: 1000}}
executor: sequential
"""

# Forced instruction sets (what another machine would pick), alone and under candidate pins.
FORCED = ["", "ATEN_CPU_CAPABILITY=avx2", "ATEN_CPU_CAPABILITY=default", "MKL_ENABLE_INSTRUCTIONS=AVX2",
          "ONEDNN_MAX_CPU_ISA=AVX2"]
PINS = ["", "MKL_CBWR=COMPATIBLE", "ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2",
        "ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=COMPATIBLE"]


def scores(db: Path) -> dict[tuple[str, str, int], float]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT run_id, question_id, choice, logprob FROM scores").fetchall()
    return {(r[0].split("|")[2], r[1], r[2]): r[3] for r in rows}


def finetune_seconds(db: Path) -> float:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT SUM(seconds) FROM costs WHERE phase = 'finetune'").fetchone()[0]


def run(setting: str, steps: int, out: Path) -> tuple[dict[tuple[str, str, int], float], float]:
    """The stored scores of one fresh study under SETTING, and the seconds its fine-tuning took."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / "config.yaml").write_text(CONFIG.format(steps=steps))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for pair in setting.split():
        key, _, value = pair.partition("=")
        env[key] = value
    subprocess.run([sys.executable, "-m", "adaptlab", "run", str(out / "config.yaml"), "--out", str(out / "run")],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return scores(out / "run" / "results.sqlite"), finetune_seconds(out / "run" / "results.sqlite")


def max_diff(a: dict, b: dict, method: str) -> float:
    keys = [k for k in a if k[0] == method]
    assert keys and set(keys) == {k for k in b if k[0] == method}
    return max(abs(a[k] - b[k]) for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("/tmp/kernel_pinning"))
    parser.add_argument("--pins", nargs="*", default=PINS, help="pin sets to try (quoted, space-separated pairs)")
    parser.add_argument("--forced", nargs="*", default=FORCED, help="forced instruction sets to try under each pin")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole list (interleaved, for timings)")
    args = parser.parse_args()
    print(f"{'pin':45} {'forced':32} {'ft max diff':>12} {'pre max diff':>12} {'ft s':>6}  load", flush=True)
    references: dict[str, dict] = {}
    for pin in [p for _ in range(args.rounds) for p in args.pins]:
        for forced in args.forced:
            # A forced variable the pin also sets is overridden by the pin: skip the pair (it is the pin alone).
            if forced and forced.split("=")[0] in {p.split("=")[0] for p in pin.split()}:
                continue
            setting = f"{forced} {pin}".strip()
            tag = setting.replace(" ", "_").replace("=", "-").replace(",", "-") or "none"
            got, seconds = run(setting, args.steps, args.out / tag)
            reference = references.setdefault(pin, got)
            print(f"{pin or '-':45} {forced or '-':32} {max_diff(got, reference, 'ft'):12.2e} "
                  f"{max_diff(got, reference, 'pretrained'):12.2e} {seconds:6.2f}  "
                  f"{os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
