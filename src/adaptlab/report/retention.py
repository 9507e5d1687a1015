"""The report's retention section: what each method learned against what its model still knows.

For every (model, dataset) whose runs stored a retention evaluation (`adaptlab.retention`): a chart of accuracy on
the dataset's knowledge (the mean of its splits) against retention accuracy, one point per method — so LoRA against
full fine-tuning (`ft-lora`, `ft-full`) and augmented against plain fine-tuning stand on both axes — and a table
with the held-out loss where it was measured. Methods that leave the weights untouched (`pretrained`, `icl`, `rag`)
are measured like the others, not assumed.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass

from adaptlab.report.decide import accuracy_of
from adaptlab.report.summary import Summary
from adaptlab.retention import HELDOUT_METRIC
from adaptlab.retention import SPLIT as RETENTION
from adaptlab.store import Store


def heldout_losses(store: Store, run_ids: set[str] | None) -> dict[tuple[str, str, str], float]:
    """Mean held-out loss (nats per token) over seeds, per (model, dataset, method)."""
    runs = {r["run_id"]: (r["model"], r["dataset"], r["method"]) for r in store.runs()
            if run_ids is None or r["run_id"] in run_ids}
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for m in store.metrics():
        if m["run_id"] in runs and m["split"] == RETENTION and m["metric"] == HELDOUT_METRIC:
            values[runs[m["run_id"]]].append(m["accuracy"])
    return {key: sum(v) / len(v) for key, v in values.items()}


@dataclass
class Point:
    method: str
    knowledge: tuple[float, float]  # mean, stderr
    retention: tuple[float, float]
    heldout: float | None


def points(summary: Summary, heldout: dict[tuple[str, str, str], float], model: str, dataset: str) -> list[Point]:
    out = []
    for option in summary.options(model, dataset):
        kept = summary.accuracy.get((model, dataset, option.method, RETENTION))
        known = accuracy_of(summary, option, None)
        if kept is None or known is None or option.cached:
            continue
        out.append(Point(option.method, (known.mean, known.stderr), (kept.mean, kept.stderr),
                         heldout.get((model, dataset, option.method))))
    return out


def rows(pts: list[Point]) -> tuple[list[str], list[list[str]]]:
    """The table: knowledge, retention, held-out loss and its change from the untouched model's."""
    base = next((p.heldout for p in pts if p.method == "pretrained"), None)
    header = ["method", "knowledge (mean of splits)", "retention", "held-out nats/token", "Δ vs pretrained"]
    out = []
    for p in pts:
        loss = f"{p.heldout:.3f}" if p.heldout is not None else "—"
        delta = f"{p.heldout - base:+.3f}" if p.heldout is not None and base is not None else "—"
        out.append([p.method, f"{p.knowledge[0]:.3f} ± {p.knowledge[1]:.3f}",
                    f"{p.retention[0]:.3f} ± {p.retention[1]:.3f}", loss, delta])
    return header, out


def plot(pts: list[Point], model: str, dataset: str, chance: float) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.0), dpi=110)
    colors = plt.get_cmap("tab10")
    for i, p in enumerate(pts):
        ax.errorbar(p.knowledge[0], p.retention[0], xerr=p.knowledge[1], yerr=p.retention[1], fmt="o",
                    color=colors(i % 10), capsize=3, label=p.method)
    ax.axhline(chance, color="black", linestyle="dashed", linewidth=1)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"accuracy on {dataset} (mean of its splits)")
    ax.set_ylabel("retention accuracy")
    ax.set_title(f"learned vs retained · {model}")
    ax.legend(fontsize=8, loc="lower left", frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
