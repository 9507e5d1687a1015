"""The report's update section: what bringing each method up to date cost, per update path.

An update run (`<dataset>@update`, method `<method>/<path>`) stores its initial preparation's one-off costs and its
update's (kind `update`, phases `update:<phase>`) apart; this table sets them side by side, with the update's share
of the initial cost and the projected dollars per update. The accuracy after the update (method × path × split) is
the `<dataset>@update` section's table."""

from __future__ import annotations

from adaptlab.costs import Prices
from adaptlab.report.summary import Summary
from adaptlab.report.tables import human

HEADER = ["model", "dataset", "option", "initial one-off FLOPs", "update FLOPs", "update / initial", "update s",
          "update phases (FLOPs)", "$ per update (projected)"]


def update_cost_rows(summary: Summary, projection: Prices) -> list[list[str]]:
    """One row per option of every update dataset (`+cache` variants included: their caches are rebuilt)."""
    rows = []
    for model, dataset in summary.datasets():
        for o in summary.options(model, dataset):
            if o.update_flops is None:
                continue
            c = summary.costs[(model, dataset, o.method)]
            phases = dict(c.update_phases)
            if o.cached:
                phases["cache prefill"] = c.cache_flops
            share = f"{o.update_flops / o.one_off_flops:.2f}" if o.one_off_flops else "—"
            rows.append([model, dataset, o.label, human(o.one_off_flops), human(o.update_flops), share,
                         f"{o.update_seconds or 0.0:.2f}",
                         ", ".join(f"{k.removeprefix('update:')} {human(v)}" for k, v in phases.items()) or "—",
                         _money(projection.compute(o.update_flops, o.n_params))])
    return rows


def _money(x: float) -> str:
    from adaptlab.report.decide import money

    return money(x)
