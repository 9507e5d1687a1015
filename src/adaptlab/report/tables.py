"""Terminal tables for one run."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from adaptlab.evaluate import DEFAULT_METRIC, METRICS
from adaptlab.store import RunResult


def human(n: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def human_bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def print_run(console: Console, result: RunResult) -> None:
    table = Table(title=f"{result.model} · {result.dataset} · {result.method} · seed {result.seed}")
    table.add_column("split")
    table.add_column("n", justify="right")
    table.add_column("chance", justify="right")
    for metric in METRICS:
        table.add_column(f"acc ({metric}){' *' if metric == DEFAULT_METRIC else ''}", justify="right")
    by_split: dict[str, dict[str, tuple[float, float]]] = {}
    meta: dict[str, tuple[int, float]] = {}
    for m in result.metrics:
        by_split.setdefault(m.split, {})[m.metric] = (m.accuracy, m.stderr)
        meta[m.split] = (m.n, m.chance)
    for split, values in by_split.items():
        n, chance = meta[split]
        cells = [f"{values[m][0]:.3f} ± {values[m][1]:.3f}" for m in METRICS]
        table.add_row(split, str(n), f"{chance:.3f}", *cells)
    console.print(table)
    costs = Table(title="cost")
    for col in ("phase", "kind", "queries", "tokens", "reused", "FLOPs", "seconds", "peak memory"):
        costs.add_column(col, justify="right" if col not in ("phase", "kind") else "left")
    for c in result.costs:
        costs.add_row(c.phase, c.kind, str(c.queries), human(c.tokens_processed), human(c.tokens_reused),
                      human(c.flops), f"{c.seconds:.1f}", f"{c.peak_memory_bytes / 2**20:.0f} MiB")
    console.print(costs)
    if result.info:
        console.print(", ".join(f"{k}={v}" for k, v in result.info.items()), highlight=False)
