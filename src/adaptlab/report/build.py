"""`adaptlab report RUNDIR`: Markdown and a self-contained HTML page (plots embedded) from a run's SQLite store.

Accuracy per split per method with error bars and chance lines (the shape of the paper's Figs. 2-4); a cost table
(one-off, per query, memory held); the break-even number of queries against `icl` and against prompt-cached ICL;
a projection of the costs to a model size and GPU price (`costs.Prices`); and "which to use when": accuracy against
the cost per 1,000 queries over an assumed workload (`recommend.Workload`), each option a point with its error
bar and the Pareto front drawn, with a paragraph written from the numbers.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Collection
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from adaptlab.costs import Prices
from adaptlab.errors import AdaptlabError
from adaptlab.evaluate import DEFAULT_METRIC, METRICS
from adaptlab.grading import OPEN_METRICS
from adaptlab.paths import writable_dir
from adaptlab.report import retention
from adaptlab.report.decide import Costed, Workload, cost_options, decide, explain, money
from adaptlab.report.summary import DEFAULT_OPEN_METRIC, Summary, summarise
from adaptlab.report.tables import human, human_bytes
from adaptlab.report.updates import HEADER, update_cost_rows
from adaptlab.store import Store, results_db

Projection = Prices  # the report's projection is the cost model's price table
UPDATE_NOTE = ("Each update run prepares the method on the dataset, brings it up to date along one path and is "
               "tested on the update's questions (the `@update` sections above: updated, updated_reversal, new, "
               "unchanged). What one update cost, per path, against the initial preparation:")


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


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both cost (lower) and accuracy (higher), by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _tradeoff_plot(summary: Summary, model: str, dataset: str, costed: list[Costed], w: Workload) -> bytes:
    """Accuracy against cost per 1,000 queries over the workload, one panel per split, Pareto front drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    splits = summary.splits(model, dataset)
    fig, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits) + 0.6, 3.9), dpi=110, squeeze=False)
    colors = plt.get_cmap("tab10")
    labels = list(dict.fromkeys(c.option.label for c in costed))
    for ax, split in zip(axes[0], splits, strict=True):
        pts, names = [], []
        for c in costed:
            cell = summary.accuracy.get((model, dataset, c.option.method, split))
            cost = c.per_1k(w)
            if cell is None or not math.isfinite(cost) or cost <= 0:
                continue
            ax.errorbar(cost, cell.mean, yerr=cell.stderr, fmt="o" if not c.option.cached else "s", capsize=3,
                        color=colors(labels.index(c.option.label) % 10), label=c.option.label)
            ax.annotate(c.option.label, (cost, cell.mean), textcoords="offset points", fontsize=7,
                        xytext=(5, 4 if len(pts) % 2 == 0 else -11))
            pts.append((cost, cell.mean))
            names.append(c.option.label)
        front = pareto_front(pts)
        if front:
            xs = [pts[i][0] for i in front]
            ys = [pts[i][1] for i in front]
            ax.step([*xs, max(p[0] for p in pts) * 1.5], [*ys, ys[-1]], where="post", color="black", linewidth=1,
                    alpha=0.6, label="Pareto front")
        ax.axhline(summary.chance(model, dataset, split), color="grey", linestyle="dashed", linewidth=1)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: money(x)))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.tick_params(axis="x", labelsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title(split, fontsize=10)
        ax.set_xlabel("$ per 1,000 queries (over the workload)", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.suptitle(f"{dataset} · {model} — {w.describe()}", fontsize=9)
    if handles:
        fig.legend(handles, names, fontsize=7, ncol=min(6, len(names)), loc="lower center", frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _which_to_use(summary: Summary, model: str, dataset: str, costed: list[Costed], w: Workload) -> str:
    """The paragraph: per split, the cheapest option within one standard error of the best accuracy there; and the
    cheapest option overall, with the volume and update rate at which the choice flips."""
    parts = []
    for split in summary.splits(model, dataset):
        known = [(c, cell) for c in costed
                 if (cell := summary.accuracy.get((model, dataset, c.option.method, split))) is not None]
        if not known:
            continue
        best, top = max(known, key=lambda k: k[1].mean)
        pick, cell = min([k for k in known if k[1].mean >= top.mean - top.stderr], key=lambda k: k[0].total(w))
        parts.append(f"on **{split}** (chance {cell.chance:.2f}) the best accuracy is {top.mean:.2f} "
                     f"({best.option.label}); the cheapest option within one standard error of it is "
                     f"**{pick.option.label}** ({cell.mean:.2f} ± {cell.stderr:.2f}, {money(pick.per_1k(w))} per "
                     "1,000 queries)")
    # Overall: the cheapest option whose mean accuracy over the splits is within one standard error of the best.
    means = [c.accuracy for c in costed if c.accuracy is not None]
    if not means:
        return "For this workload, " + "; ".join(parts) + "." if parts else ""
    best_mean = max(means, key=lambda a: a.mean)
    threshold = round(best_mean.mean - best_mean.stderr, 3)
    overall = explain(decide(costed, w, threshold), model, dataset, None, threshold)
    return ("For this workload, " + "; ".join(parts) + ". " if parts else "") + "Over all splits: " + overall.replace(
        f"{dataset} · {model}: at ", "at ")


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
    header = ["method", *[f"{s} ({summary.open_metric + ', ' if summary.is_open(model, dataset, s) else ''}"
                          f"chance {summary.chance(model, dataset, s):.2f})" for s in splits]]
    rows = []
    for method in summary.methods:
        cells = [summary.accuracy.get((model, dataset, method, s)) for s in splits]
        if all(c is None for c in cells):
            continue
        rows.append([method, *[f"{c.mean:.3f} ± {c.stderr:.3f}" if c else "—" for c in cells]])
    return _table(header, rows)


def _open_tables(summary: Summary, model: str, dataset: str) -> tuple[str, str]:
    """Open splits: exact match and F1 per method (mean ± standard error), then a few generated answers per method
    (question, reference, generated text); empty where the dataset has no open questions."""
    from markupsafe import escape

    splits = [s for s in summary.splits(model, dataset) if summary.is_open(model, dataset, s)]
    if not splits:
        return "", ""
    header = ["method", *[f"{s} {name}" for s in splits for name in ("exact match", "F1")]]
    rows = []
    for method in summary.methods:
        cells = [summary.open_cells.get((model, dataset, method, s), {}) for s in splits]
        if not any(cells):
            continue
        rows.append([method, *[f"{c[name].mean:.3f} ± {c[name].stderr:.3f}" if name in c else "—"
                               for c in cells for name in ("exact_match", "f1")]])
    scores_md, scores_html = _table(header, rows)
    examples = [[method, a.question, a.reference, a.text or "(empty)", f"{a.exact_match:.0f}", f"{a.f1:.2f}"]
                for method in summary.methods for a in summary.examples.get((model, dataset, method), [])]
    header = ["method", "question", "reference", "generated", "exact match", "F1"]
    ex_md, _ = _table(header, [[c.replace("|", "\\|").replace("\n", " ") for c in r] for r in examples])
    _, ex_html = _table(header, [[str(escape(c)) for c in r] for r in examples])
    md = f"Open questions: exact match and F1\n\n{scores_md}\n\nGenerated answers (examples)\n\n{ex_md}"
    html = (f"<h3>Open questions: exact match and F1</h3>{scores_html}"
            f"<h3>Generated answers (examples)</h3>{ex_html}")
    return md, html


def _bold(text: str) -> str:
    """Markdown **bold** as HTML <b>, the rest escaped."""
    from markupsafe import escape

    parts = str(escape(text)).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def _fmt_queries(n: float | None) -> str:
    if n is None:
        return "—"
    if math.isinf(n):
        return "never"
    return f"{math.ceil(n):,}"


def build_report(rundir: Path, projection: Prices | None = None, metric: str = DEFAULT_METRIC,
                 run_ids: Collection[str] | None = None, workload: Workload | None = None,
                 open_metric: str = DEFAULT_OPEN_METRIC) -> tuple[Path, Path]:
    """Write RUNDIR/report.md (+ PNGs) and RUNDIR/report.html; returns their paths. The runs reported: `run_ids`,
    else those of the folder's config.yaml, else every stored run. Multiple-choice splits are reported by `metric`,
    open splits by `open_metric`."""
    db = results_db(rundir)  # read-only: a foreign or corrupt file is one line and stays as it was
    if metric not in METRICS:
        raise AdaptlabError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    if open_metric not in OPEN_METRICS:
        raise AdaptlabError(f"unknown open metric {open_metric!r}; known: {', '.join(OPEN_METRICS)}")
    projection = projection or Prices(params=7e9)
    workload = workload or Workload()
    writable_dir(rundir, "run folder")  # the report is written there: fail before the work, not after
    if run_ids is None:
        from adaptlab.runs import config_run_ids

        run_ids = config_run_ids(rundir)
    with Store(db) as store:
        summary = summarise(store, metric, run_ids, open_metric)
        heldout = retention.heldout_losses(store, set(run_ids) if run_ids is not None else None)
        n_runs = len({r["run_id"] for r in store.runs() if run_ids is None or r["run_id"] in run_ids})
    if not summary.accuracy:
        raise AdaptlabError(f"{db}: no finished runs to report")
    md = [f"# adaptlab report — {rundir.name}", "",
          f"{n_runs} runs; accuracy = argmax of the `{summary.metric}`-normalised choice log-likelihood "
          f"(open questions: `{summary.open_metric}` of the generated answer); "
          "± standard error (across seeds when several, else binomial); dashed lines in plots: chance.", ""]
    sections = []
    for model, dataset in summary.datasets():
        png = _plot(summary, model, dataset)
        name = f"plot_{dataset}_{model}".replace("/", "_").replace(" ", "_") + ".png"
        (rundir / name).write_bytes(png)
        table_md, table_html = _accuracy_table(summary, model, dataset)
        open_md, open_html = _open_tables(summary, model, dataset)
        md += [f"## {dataset} · {model}", "", f"![{dataset}]({name})", "", table_md, ""]
        md += [open_md, ""] if open_md else []
        sections.append({"title": f"{dataset} · {model}", "png": base64.b64encode(png).decode(),
                         "table_html": table_html + open_html})
        kept = retention.points(summary, heldout, model, dataset)
        if kept:
            png = retention.plot(kept, model, dataset, summary.chance(model, dataset, retention.RETENTION))
            name = f"retention_{dataset}_{model}".replace("/", "_").replace(" ", "_") + ".png"
            (rundir / name).write_bytes(png)
            kept_md, kept_html = _table(*retention.rows(kept))
            note = ("What each adapted model still knows (`retention`: see adaptlab.retention), against what it "
                    "learned of this dataset; held-out loss in nats per token where measured.")
            md += [f"### Learned vs retained · {dataset} · {model}", "", note, "", f"![retention]({name})", "",
                   kept_md, ""]
            sections.append({"title": f"learned vs retained · {dataset} · {model}",
                             "png": base64.b64encode(png).decode(), "table_html": f"<p>{note}</p>" + kept_html})
    header = ["model", "dataset", "option", "one-off FLOPs", "one-off s", "one-off peak mem", "memory held",
              "tokens / query", "FLOPs / query", "s / query (deployment, est.)", "s / query (our eval)"]
    rows = []
    for model, dataset in summary.datasets():
        for o in summary.options(model, dataset):
            c = summary.costs[(model, dataset, o.method)]
            rows.append([model, dataset, o.label, human(o.one_off_flops), f"{o.one_off_seconds:.2f}",
                         human_bytes(c.one_off_peak_memory) if c.one_off_peak_memory and not o.cached else "—",
                         human_bytes(o.held_bytes) if o.held_bytes else "—",
                         human(o.query_tokens), human(o.query_flops), f"{o.query_seconds:.4f}",
                         f"{c.scoring_seconds:.4f}" if not o.cached else "—"])
    cost_md, cost_html = _table(header, rows)
    be_rows = []
    for model, dataset in summary.datasets():
        for o in summary.options(model, dataset):
            if o.label in ("icl", "pretrained"):
                continue
            be_rows.append([model, dataset, o.label,
                            *[_fmt_queries(summary.break_even(model, dataset, o.label, basis, against))
                              for against, basis in (("icl", "flops"), ("icl", "seconds"), ("icl+cache", "flops"))]])
    be_md, be_html = _table(["model", "dataset", "option", "vs ICL (FLOPs)", "vs ICL (time)",
                             "vs prompt-cached ICL (FLOPs)"], be_rows)
    note = (f"Projected to a {(projection.params or 0) / 1e9:g}B-parameter model at ${projection.price_per_gpu_hour:g} "
            f"per GPU-hour and {projection.gpu_flops / 1e12:g} TFLOP/s sustained: FLOPs scale with parameter count "
            "(the attention term too, roughly); dollars = FLOPs / throughput / 3600 × price.")
    pj_rows = []
    for model, dataset in summary.datasets():
        for o in summary.options(model, dataset):
            pj_rows.append([model, dataset, o.label, money(projection.compute(o.one_off_flops, o.n_params)),
                            money(projection.compute(o.query_flops, o.n_params) * 1000)])
    pj_md, pj_html = _table(["model", "dataset", "option", "one-off", "per 1,000 queries"], pj_rows)
    md += ["## Cost", "", cost_md, "", "## Break-even", "", be_md, "", "## Projection", "", note, "", pj_md, ""]
    update_rows = update_cost_rows(summary, projection)
    update_md, update_html = _table(HEADER, update_rows) if update_rows else ("", "")
    if update_rows:
        md += ["## Updates", "", UPDATE_NOTE, "", update_md, ""]
    when = []
    md += ["## Which to use when", "", f"Workload assumed: {workload.describe()}; prices as in the projection, "
           "one-off costs paid again at every update (with update runs: each path's measured update cost), "
           "memory held priced as a share of an "
           f"{projection.gpu_memory_bytes / 1e9:g} GB GPU. Change them with `adaptlab recommend`.", ""]
    for model, dataset in summary.datasets():
        costed = cost_options(summary, model, dataset, projection, workload)
        if not costed:  # runs stored without costs
            continue
        png = _tradeoff_plot(summary, model, dataset, costed, workload)
        name = f"tradeoff_{dataset}_{model}".replace("/", "_").replace(" ", "_") + ".png"
        (rundir / name).write_bytes(png)
        text = _which_to_use(summary, model, dataset, costed, workload)
        md += [f"![accuracy against cost]({name})", "", text, ""]
        when.append({"title": f"{dataset} · {model}", "png": base64.b64encode(png).decode(), "text": text})
    md_path = rundir / "report.md"
    md_path.write_text("\n".join(md))
    env = Environment(loader=PackageLoader("adaptlab.report", "."), autoescape=select_autoescape(["html"]))
    from markupsafe import Markup

    html = env.get_template("template.html.j2").render(
        title=rundir.name, runs=n_runs, metric=summary.metric, open_metric=summary.open_metric,
        sections=[{**s, "table_html": Markup(s["table_html"])} for s in sections],
        cost_html=Markup(cost_html), breakeven_html=Markup(be_html),
        projection_note=note, projection_html=Markup(pj_html), workload=workload.describe(),
        update_note=UPDATE_NOTE if update_rows else "", update_html=Markup(update_html),
        when=[{**w, "html": Markup(_bold(w["text"]))} for w in when],
    )
    html_path = rundir / "report.html"
    html_path.write_text(html)
    return md_path, html_path
