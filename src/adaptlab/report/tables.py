"""Terminal tables for one run."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from adaptlab.costs import ESTIMATED_PHASES
from adaptlab.evaluate import DEFAULT_METRIC, GENERATIVE_METRIC, METRICS
from adaptlab.evaluate_open import OPEN_METRIC_NAMES
from adaptlab.store import RunResult

EXAMPLES = 3  # open questions' generated answers printed after a run's table


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
    # A likelihood run has the four likelihood metrics; a generative multiple-choice run has its own one only;
    # open questions have their graded metrics (and the reference's log-likelihood per character).
    stored = {r.metric for r in result.metrics}
    metrics = [m for m in (*METRICS, GENERATIVE_METRIC, *OPEN_METRIC_NAMES) if m in stored]
    for metric in metrics:
        label = metric if metric in OPEN_METRIC_NAMES else f"acc ({metric}){' *' if metric == DEFAULT_METRIC else ''}"
        table.add_column(label, justify="right")
    by_split: dict[str, dict[str, tuple[float, float]]] = {}
    meta: dict[str, tuple[int, float]] = {}
    for m in result.metrics:
        by_split.setdefault(m.split, {})[m.metric] = (m.accuracy, m.stderr)
        meta[m.split] = (m.n, m.chance)
    for split, values in by_split.items():
        n, chance = meta[split]
        cells = [f"{values[m][0]:.3f} ± {values[m][1]:.3f}" if m in values else "—" for m in metrics]
        table.add_row(split, str(n), f"{chance:.3f}", *cells)
    console.print(table)
    ties = {m.split: m.ties for m in result.metrics if m.metric == DEFAULT_METRIC and m.ties}
    if ties:
        console.print("ties (credited 1/k of a correct answer): " + ", ".join(f"{s} {n}" for s, n in ties.items()),
                      highlight=False)
    for a in result.answers[:EXAMPLES]:
        console.print(f"{a.question!r} → {a.text!r} (reference {a.reference!r}: exact match {a.exact_match:.0f}, "
                      f"F1 {a.f1:.2f})", highlight=False, markup=False)
    costs = Table(title="cost (measured by this run, or estimated for a deployment)")
    served = any(c.tokens_cached or c.dollars for c in result.costs)
    columns = ["phase", "kind", "how", "queries", "tokens", "reused", *(["server cached", "$"] if served else []),
               "FLOPs", "seconds", "peak memory"]
    for col in columns:
        costs.add_column(col, justify="right" if col not in ("phase", "kind", "how") else "left")
    for c in result.costs:
        how = "estimate" if c.phase in ESTIMATED_PHASES else "measured"
        billed = [human(c.tokens_cached), f"{c.dollars:.4g}"] if served else []
        costs.add_row(c.phase, c.kind, how, str(c.queries), human(c.tokens_processed), human(c.tokens_reused),
                      *billed, human(c.flops), f"{c.seconds:.1f}",
                      human_bytes(c.peak_memory_bytes) if c.peak_memory_bytes else "—")
    console.print(costs)
    info = {k: v for k, v in result.info.items() if k not in ("warnings", "loss_curve")}
    if info:
        console.print(", ".join(f"{k}={v}" for k, v in info.items()), highlight=False)
    for warning in result.info.get("warnings", []):
        console.print(f"warning: {warning}", highlight=False, style="yellow")


def print_summary(console: Console, db: Path, run_ids: list[str]) -> None:
    """Accuracy per dataset, method and split (mean ± standard error over seeds) of the given runs."""
    from adaptlab.report.summary import summarise
    from adaptlab.store import Store

    with Store(db) as store:
        summary = summarise(store, DEFAULT_METRIC, run_ids)
    for model, dataset in summary.datasets():
        splits = summary.splits(model, dataset)
        table = Table(title=f"{model} · {dataset} — accuracy ({DEFAULT_METRIC}; open questions: "
                            f"{summary.open_metric}), mean ± SE over seeds")
        table.add_column("method")
        for split in splits:
            table.add_column(f"{split} (chance {summary.chance(model, dataset, split):.2f})", justify="right")
        for method in summary.methods:
            cells = [summary.accuracy.get((model, dataset, method, split)) for split in splits]
            if any(cells):
                table.add_row(method, *(f"{c.mean:.2f} ± {c.stderr:.2f}" if c else "—" for c in cells))
        console.print(table)
