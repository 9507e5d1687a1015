"""`adaptlab recommend`: which method to deploy for a workload, from a stored run's accuracy and costs.

A workload is a query volume (queries per day), an update rate (how often the knowledge changes, per month) and a
horizon (days). Over the horizon every option costs, in dollars at the given prices (`costs.Prices`):

    total = one-off + per update × updates over the horizon + per query × queries + memory held × hours

**With update runs** in the folder (a dataset with an update: `<dataset>@update`), the options are a method and its
update path as run (`ft/continue`, `ft/retrain`, `icl/swap`, `rag/reindex`, ... and each prompt-cached variant,
whose caches are rebuilt at every update): the one-off is the initial preparation's, the cost per update is the
path's measured update cost (`update:` phases), and accuracy is measured *after* the update, on the update's
questions — by default the mean over its splits (updated, updated_reversal, new, unchanged: the world as it now is,
the changed, the added and the kept knowledge weighted alike), or one split named with `split` (e.g. `updated`:
does the method answer the new version of a changed fact?). Without update runs every option is a method as run,
and an update is assumed to cost its whole one-off again (fine-tuning, augmentation, a trained memory, an index or
a prompt cache built again), while ICL and RAG pay only per query.

Options that miss the accuracy asked for (on one split, or the mean over splits) are dropped; the cheapest of the
rest is the recommendation. Since the total is linear in the query volume and in the update rate, the points where
the choice flips are exact: the nearest volume (at this update rate) and update rate (at this volume) at which
another option becomes cheaper.

A recommendation cannot mislead: an option is never chosen when its accuracy is not above chance by two standard
errors (unless `allow_chance`), and controls (`aug-oracle-ft`, which learns from the generator's own answers) are
shown but never chosen. Dollars are at the size the costs were projected to: the measured model's unless
`Prices.params` says otherwise, which the explanation states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from adaptlab.costs import Prices
from adaptlab.data.records import UPDATE_SPLITS
from adaptlab.errors import AdaptlabError
from adaptlab.evaluate import DEFAULT_METRIC
from adaptlab.experiment import UPDATE_SUFFIX
from adaptlab.methods import is_control
from adaptlab.report.summary import Cell, Option, Summary
from adaptlab.retention import SPLIT as RETENTION


@dataclass(frozen=True)
class Workload:
    queries_per_day: float = 1000.0
    updates_per_month: float = 1.0
    horizon_days: float = 30.0

    def __post_init__(self) -> None:
        for name in ("queries_per_day", "updates_per_month", "horizon_days"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise AdaptlabError(f"--{name.replace('_', '-')} must be a number >= 0, got {value}")
        if self.horizon_days == 0:
            raise AdaptlabError("--horizon-days must be > 0")

    def describe(self) -> str:
        updates = "update" if self.updates_per_month == 1 else "updates"
        return (f"{self.queries_per_day:,.0f} queries/day, {self.updates_per_month:g} knowledge {updates}/month, "
                f"over {self.horizon_days:g} days")


@dataclass(frozen=True)
class Costed:
    """An option's total cost over the horizon as `one_off + per_update × U·D/30 + per_query × Q·D + holding`."""

    option: Option
    one_off: float  # dollars, paid once at first
    per_query: float  # dollars
    holding: float  # dollars over the horizon
    accuracy: Cell | None
    per_update: float  # dollars per update: measured (an update run), else the one-off again
    retention: Cell | None = None  # what the adapted model still knows (`adaptlab.retention`), where measured

    def total(self, w: Workload) -> float:
        return (self.one_off + self.per_update * updates(w) + self.per_query * w.queries_per_day * w.horizon_days
                + self.holding)

    def per_1k(self, w: Workload) -> float:
        """Dollars per 1,000 queries over the horizon, everything included."""
        queries = w.queries_per_day * w.horizon_days
        return self.total(w) / queries * 1000 if queries else math.inf


def updates(w: Workload) -> float:
    """Updates over the horizon."""
    return w.updates_per_month * w.horizon_days / 30


def cost_options(summary: Summary, model: str, dataset: str, prices: Prices, w: Workload,
                 split: str | None = None) -> list[Costed]:
    out = []
    for o in summary.options(model, dataset):
        one_off = prices.compute(o.one_off_flops, o.n_params)
        out.append(Costed(
            option=o,
            one_off=one_off,
            per_query=prices.query(o.query_flops, o.query_tokens, o.query_reused, o.n_params),
            holding=prices.holding(o.held_bytes, w.horizon_days * 24),
            accuracy=accuracy_of(summary, o, split),
            per_update=one_off if o.update_flops is None else prices.compute(o.update_flops, o.n_params),
            retention=summary.accuracy.get((o.model, o.dataset, o.method, RETENTION)),
        ))
    return out


def accuracy_of(summary: Summary, option: Option, split: str | None) -> Cell | None:
    """The option's accuracy on `split`, or the mean over the dataset's splits (standard errors combined; the
    retention evaluation is not one of them: it is not about the dataset's knowledge)."""
    if split is not None:
        return summary.accuracy.get((option.model, option.dataset, option.method, split))
    found = [summary.accuracy.get((option.model, option.dataset, option.method, s))
             for s in summary.splits(option.model, option.dataset) if s != RETENTION]
    cells = [c for c in found if c is not None]
    if not cells or len(cells) < len(found):
        return None
    n = len(cells)
    return Cell(sum(c.mean for c in cells) / n, math.sqrt(sum(c.stderr**2 for c in cells)) / n,
                sum(c.chance for c in cells) / n, min(c.seeds for c in cells), sum(c.n for c in cells))


@dataclass(frozen=True)
class Flip:
    """The choice changes to `to` at `at` (queries/day or updates/month)."""

    to: str
    at: float


@dataclass
class Decision:
    workload: Workload
    costed: list[Costed]
    eligible: list[Costed]
    choice: Costed | None
    volume_up: Flip | None = None  # more queries than this: another option is cheaper
    volume_down: Flip | None = None
    updates_up: Flip | None = None
    updates_down: Flip | None = None


def _flips(a: Costed, others: list[Costed], fixed: dict[str, float], slope: dict[str, float],
           here: float, floor: float) -> tuple[Flip | None, Flip | None]:
    """Where `a` stops being the cheapest of `others` along a variable x with cost = fixed + slope·x (flips
    below `floor`, e.g. under one query a day, are not reported)."""
    up: Flip | None = None
    down: Flip | None = None
    la = a.option.label
    for b in others:
        lb = b.option.label
        if lb == la or slope[lb] == slope[la]:
            continue
        x = (fixed[lb] - fixed[la]) / (slope[la] - slope[lb])
        if slope[lb] < slope[la] and x >= here and (up is None or x < up.at):
            up = Flip(lb, x)
        if slope[lb] > slope[la] and floor <= x <= here and (down is None or x > down.at):
            down = Flip(lb, x)
    return up, down


CHANCE_MARGIN_SE = 2.0  # an option is above chance when its accuracy is this many standard errors above it


def above_chance(cell: Cell | None) -> bool:
    return cell is not None and cell.mean > cell.chance + CHANCE_MARGIN_SE * cell.stderr


def why_not(c: Costed, min_accuracy: float | None, allow_chance: bool,
            min_retention: float | None = None) -> str | None:
    """Why an option cannot be recommended; None when it can."""
    if is_control(c.option.method):
        return "a control (it learns from the generator's answers, which real data lacks)"
    if not allow_chance and not above_chance(c.accuracy):
        return "not above chance"
    if min_accuracy is not None and (c.accuracy is None or c.accuracy.mean < min_accuracy):
        return f"below {min_accuracy:g}"
    if min_retention is not None and c.retention is None:
        return "retention not measured"
    if min_retention is not None and c.retention is not None and c.retention.mean < min_retention:
        return f"retains {c.retention.mean:.2f}, below {min_retention:g}"
    return None


def decide(costed: list[Costed], w: Workload, min_accuracy: float | None = None,
           allow_chance: bool = False, min_retention: float | None = None) -> Decision:
    eligible = [c for c in costed if why_not(c, min_accuracy, allow_chance, min_retention) is None]
    decision = Decision(w, costed, eligible, None)
    if not eligible:
        return decision
    choice = min(eligible, key=lambda c: (c.total(w), c.option.label))
    decision.choice = choice
    # along the query volume Q, at this update rate
    fixed = {c.option.label: c.one_off + c.per_update * updates(w) + c.holding for c in eligible}
    slope = {c.option.label: c.per_query * w.horizon_days for c in eligible}
    decision.volume_up, decision.volume_down = _flips(choice, eligible, fixed, slope, w.queries_per_day, 1.0)
    # along the update rate U, at this volume
    fixed = {c.option.label: c.one_off + c.per_query * w.queries_per_day * w.horizon_days + c.holding
             for c in eligible}
    slope = {c.option.label: c.per_update * w.horizon_days / 30 for c in eligible}
    decision.updates_up, decision.updates_down = _flips(choice, eligible, fixed, slope, w.updates_per_month,
                                                         0.01)
    return decision


def money(x: float) -> str:
    if x == 0:
        return "$0"
    if abs(x) >= 100:
        return f"${x:,.0f}"
    if abs(x) >= 0.01:
        return f"${x:,.2f}"
    return f"${x:.2g}"


def scale(prices: Prices, n_params: int) -> str:
    """What size of model the dollars are for, in words."""
    if prices.params:
        return f"Dollars are projected to a model of {prices.params:,.3g} parameters."
    measured = f"{n_params:,}" if n_params else "unknown"
    return (f"Dollars are for the measured model ({measured} parameters), as measured; give --params (e.g. 7e9) to "
            "project them to the size you would deploy.")


def explain(d: Decision, model: str, dataset: str, split: str | None, min_accuracy: float | None) -> str:
    """The decision in words."""
    where = f"{dataset} · {model}"
    mean = "the mean of the update's splits" if dataset.endswith(UPDATE_SUFFIX) else "the mean of all splits"
    target = f"accuracy ≥ {min_accuracy:g} on {split or mean}" if min_accuracy is not None else ""
    if d.choice is None:
        goal = target or "an accuracy above chance"
        return (f"{where}: no method that can be deployed reaches {goal} (controls and options at chance are "
                "never recommended); add methods or data, or lower --min-accuracy.")
    c = d.choice
    acc = f", accuracy {c.accuracy.mean:.2f} ± {c.accuracy.stderr:.2f}" if c.accuracy else ""
    text = [f"{where}: at {d.workload.describe()}, use **{c.option.label}** ({money(c.total(d.workload))} in all, "
            f"{money(c.per_1k(d.workload))} per 1,000 queries{acc}" + (f"; {target}" if target else "") + ")."]
    if d.volume_up:
        text.append(f"Above {d.volume_up.at:,.0f} queries/day {d.volume_up.to} becomes cheaper.")
    if d.volume_down:
        text.append(f"Below {d.volume_down.at:,.0f} queries/day {d.volume_down.to} is cheaper.")
    if d.updates_up:
        text.append(f"With more than {d.updates_up.at:,.3g} updates/month {d.updates_up.to} becomes cheaper.")
    if d.updates_down:
        text.append(f"With fewer than {d.updates_down.at:,.3g} updates/month {d.updates_down.to} is cheaper.")
    if not (d.volume_up or d.volume_down or d.updates_up or d.updates_down) and len(d.eligible) > 1:
        text.append("No change of volume or update rate makes another option cheaper.")
    return " ".join(text)


def recommend(rundir: Path, w: Workload, prices: Prices, *, min_accuracy: float | None = None,
              split: str | None = None, metric: str = DEFAULT_METRIC, open_metric: str = "exact_match",
              dataset: str | None = None, allow_chance: bool = False,
              min_retention: float | None = None) -> list[tuple[str, str, Decision]]:
    """A decision per (model, dataset) stored in RUNDIR: every dataset, or the one named; with a `split`, every
    dataset that has that split (a folder of several datasets rarely shares split names). Accuracy is `metric` on
    multiple-choice splits and `open_metric` (exact_match, f1 or contains) on splits of open questions.
    `min_retention`: keep only options whose retention accuracy (`adaptlab.retention`, the split `retention`) is at
    least this — an absolute accuracy, to read beside the `pretrained` run's (what the untouched model retains)."""
    from adaptlab.evaluate import METRICS
    from adaptlab.grading import OPEN_METRICS
    from adaptlab.report.summary import summarise
    from adaptlab.store import Store, results_db

    for flag, value in (("--min-accuracy", min_accuracy), ("--min-retention", min_retention)):
        if value is not None and not 0 <= value <= 1:
            raise AdaptlabError(f"{flag} must be between 0 and 1, got {value}")
    if metric not in METRICS:
        raise AdaptlabError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    if open_metric not in OPEN_METRICS:
        raise AdaptlabError(f"unknown open metric {open_metric!r}; known: {', '.join(OPEN_METRICS)}")
    db = results_db(rundir)  # read-only: a foreign or corrupt file is one line and stays as it was
    from adaptlab.runs import config_run_ids

    with Store(db) as store:
        summary = summarise(store, metric, config_run_ids(rundir), open_metric)  # the runs of the folder's config
    if not summary.accuracy:
        raise AdaptlabError(f"{rundir}: no finished runs to recommend from")
    pairs = with_updates(summary.datasets())
    if dataset is not None:
        named = [(m, d) for m, d in pairs if dataset in (d, d.removesuffix(UPDATE_SUFFIX))]
        if not named:
            raise AdaptlabError(f"{rundir}: no dataset {dataset!r} (datasets: "
                                f"{', '.join(dict.fromkeys(d for _, d in pairs))})")
        pairs = named
    if split is not None:
        having = [(m, d) for m, d in pairs if split in summary.splits(m, d)]
        if not having:
            known = "; ".join(f"{d}: {', '.join(summary.splits(m, d))}" for m, d in pairs)
            hint = (" — the update splits come from update runs: run a dataset with an update (a generator's "
                    "update_share, or a dataset folder with update/)") if split in UPDATE_SPLITS else ""
            raise AdaptlabError(f"no dataset has a split {split!r} (splits: {known}){hint}")
        pairs = having
    if min_retention is not None:
        having = [(m, d) for m, d in pairs if RETENTION in summary.splits(m, d)]
        if not having:
            raise AdaptlabError(f"{rundir}: no run stored a retention evaluation (run with `retention: auto` in the "
                                "config, or `adaptlab eval --retention auto`), so --min-retention has nothing to read")
        pairs = having
    out = []
    for model, name in pairs:
        costed = cost_options(summary, model, name, prices, w, split)
        out.append((model, name, decide(costed, w, min_accuracy, allow_chance, min_retention)))
    return out


def with_updates(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (model, dataset) pairs to decide on: a dataset with update runs (`<dataset>@update`) is decided on
    those (method/path options, accuracy after the update), in its own place."""
    present = set(pairs)
    return list(dict.fromkeys((m, f"{d}{UPDATE_SUFFIX}") if (m, f"{d}{UPDATE_SUFFIX}") in present else (m, d)
                              for m, d in pairs))
