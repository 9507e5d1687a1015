"""`adaptlab report RUNDIR`: Markdown and a self-contained HTML page (plots embedded) from a run's SQLite store.

Accuracy per split per method with error bars and chance lines (the shape of the paper's Figs. 2-4); a cost table
(one-off and per query); the break-even number of queries against `icl`; and a projection of the costs to a model
size and GPU price the user gives (FLOPs scale with parameter count; time = FLOPs / sustained GPU throughput).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from adaptlab.errors import AdaptlabError
from adaptlab.evaluate import DEFAULT_METRIC, METRICS
from adaptlab.report.summary import Summary, summarise
from adaptlab.report.tables import human
from adaptlab.store import Store


@dataclass
class Projection:
    params: float = 7e9  # model size to project to
    price_per_gpu_hour: float = 2.5  # dollars
    gpu_flops: float = 4e14  # sustained FLOP/s (≈ 40% of an H100's dense bf16 peak)


def _plot(summary: Summary, model: str, dataset: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = summary.splits(model, dataset)
    methods = [m for m in summary.methods if any((model, dataset, m, s) in summary.accuracy for s in splits)]
    width = 0.8 / max(len(methods), 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(splits) + 2), 3.6), dpi=110)
    colors = plt.get_cmap("tab10")
    for j, method in enumerate(methods):
        xs, ys, es = [], [], []
        for i, split in enumerate(splits):
            cell = summary.accuracy.get((model, dataset, method, split))
            if cell is not None:
                xs.append(i + (j - (len(methods) - 1) / 2) * width)
                ys.append(cell.mean)
                es.append(cell.stderr)
        ax.bar(xs, ys, width * 0.95, yerr=es, capsize=3, label=method, color=colors(j % 10))
    for i, split in enumerate(splits):
        chance = summary.chance(model, dataset, split)
        ax.hlines(chance, i - 0.45, i + 0.45, colors="black", linestyles="dashed", linewidth=1)
    ax.set_xticks(range(len(splits)), splits)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{dataset} · {model}")
    ax.legend(fontsize=8, ncol=min(4, len(methods)), loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _table(header: list[str], rows: list[list[str]]) -> tuple[str, str]:
    """The same table as Markdown and as HTML."""
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    html = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"]
    html += ["<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows]
    html.append("</table>")
    return "\n".join(md), "\n".join(html)


def _accuracy_table(summary: Summary, model: str, dataset: str) -> tuple[str, str]:
    splits = summary.splits(model, dataset)
    header = ["method", *[f"{s} (chance {summary.chance(model, dataset, s):.2f})" for s in splits]]
    rows = []
    for method in summary.methods:
        cells = [summary.accuracy.get((model, dataset, method, s)) for s in splits]
        if all(c is None for c in cells):
            continue
        rows.append([method, *[f"{c.mean:.3f} ± {c.stderr:.3f}" if c else "—" for c in cells]])
    return _table(header, rows)


def _fmt_queries(n: float | None) -> str:
    if n is None:
        return "—"
    if math.isinf(n):
        return "never"
    return f"{math.ceil(n):,}"


def build_report(rundir: Path, projection: Projection | None = None, metric: str = DEFAULT_METRIC,
                 run_ids: Collection[str] | None = None) -> tuple[Path, Path]:
    """Write RUNDIR/report.md (+ PNGs) and RUNDIR/report.html; returns their paths. The runs reported: `run_ids`,
    else those of the folder's config.yaml, else every stored run."""
    db = rundir / "results.sqlite"
    if not db.exists():
        raise AdaptlabError(f"{rundir}: no results.sqlite here (run `adaptlab run CONFIG --out {rundir}` first)")
    if metric not in METRICS:
        raise AdaptlabError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    projection = projection or Projection()
    if run_ids is None:
        from adaptlab.runs import config_run_ids

        run_ids = config_run_ids(rundir)
    with Store(db) as store:
        summary = summarise(store, metric, run_ids)
        n_runs = len({r["run_id"] for r in store.runs() if run_ids is None or r["run_id"] in run_ids})
    if not summary.accuracy:
        raise AdaptlabError(f"{db}: no finished runs to report")
    md = [f"# adaptlab report — {rundir.name}", "",
          f"{n_runs} runs; accuracy = argmax of the `{summary.metric}`-normalised choice log-likelihood; "
          "± standard error (across seeds when several, else binomial); dashed lines in plots: chance.", ""]
    sections = []
    for model, dataset in summary.datasets():
        png = _plot(summary, model, dataset)
        name = f"plot_{dataset}_{model}".replace("/", "_").replace(" ", "_") + ".png"
        (rundir / name).write_bytes(png)
        table_md, table_html = _accuracy_table(summary, model, dataset)
        md += [f"## {dataset} · {model}", "", f"![{dataset}]({name})", "", table_md, ""]
        sections.append({"title": f"{dataset} · {model}", "png": base64.b64encode(png).decode(),
                         "table_html": table_html})
    header = ["model", "dataset", "method", "one-off FLOPs", "one-off s", "one-off peak mem",
              "tokens / query", "FLOPs / query", "s / query (measured)"]
    rows = []
    for (model, dataset, method), c in summary.costs.items():
        rows.append([model, dataset, method, human(c.one_off_flops), f"{c.one_off_seconds:.1f}",
                     f"{c.one_off_peak_memory / 2**20:.0f} MiB" if c.one_off_peak_memory else "—",
                     human(c.query_tokens), human(c.query_flops), f"{c.query_seconds:.3f}"])
    cost_md, cost_html = _table(header, rows)
    be_rows = []
    for model, dataset, method in summary.costs:
        if method in ("icl", "pretrained"):
            continue
        be_rows.append([model, dataset, method, _fmt_queries(summary.break_even(model, dataset, method, "flops")),
                        _fmt_queries(summary.break_even(model, dataset, method, "seconds"))])
    be_md, be_html = _table(["model", "dataset", "method", "break-even (FLOPs)", "break-even (measured s)"], be_rows)
    note = (f"Projected to a {projection.params / 1e9:g}B-parameter model at ${projection.price_per_gpu_hour:g} per "
            f"GPU-hour and {projection.gpu_flops / 1e12:g} TFLOP/s sustained: costs scale with parameter count "
            "(the attention term is ignored); dollars = FLOPs / throughput / 3600 × price.")
    pj_rows = []
    for (model, dataset, method), c in summary.costs.items():
        n_params = summary.params.get(model, 0)
        scale = projection.params / n_params if n_params else 0.0
        one_off = c.one_off_flops * scale / projection.gpu_flops / 3600 * projection.price_per_gpu_hour
        per_1k = c.query_flops * scale * 1000 / projection.gpu_flops / 3600 * projection.price_per_gpu_hour
        pj_rows.append([model, dataset, method, f"${one_off:,.4f}", f"${per_1k:,.4f}"])
    pj_md, pj_html = _table(["model", "dataset", "method", "one-off", "per 1,000 queries"], pj_rows)
    md += ["## Cost", "", cost_md, "", "## Break-even against ICL", "", be_md, "", "## Projection", "", note, "",
           pj_md, ""]
    md_path = rundir / "report.md"
    md_path.write_text("\n".join(md))
    env = Environment(loader=PackageLoader("adaptlab.report", "."), autoescape=select_autoescape(["html"]))
    from markupsafe import Markup

    html = env.get_template("template.html.j2").render(
        title=rundir.name, runs=n_runs, metric=summary.metric,
        sections=[{**s, "table_html": Markup(s["table_html"])} for s in sections],
        cost_html=Markup(cost_html), breakeven_html=Markup(be_html),
        projection_note=note, projection_html=Markup(pj_html),
    )
    html_path = rundir / "report.html"
    html_path.write_text(html)
    return md_path, html_path
