"""Aggregate stored runs: accuracy per (model, dataset, method, split) over seeds, costs per method, break-even."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

from adaptlab.costs import break_even_queries
from adaptlab.evaluate import DEFAULT_METRIC
from adaptlab.store import Store

ONE_OFF_PHASES = ("augment", "finetune", "index")


@dataclass
class Cell:
    """Accuracy of one method on one split, over seeds."""

    mean: float
    stderr: float
    chance: float
    seeds: int
    n: int  # questions per seed


@dataclass
class MethodCost:
    one_off_flops: float = 0.0
    one_off_seconds: float = 0.0
    one_off_peak_memory: int = 0
    query_tokens: float = 0.0  # per query, deployment (no cache shared across queries)
    query_flops: float = 0.0
    query_seconds: float = 0.0  # per query, as measured by our evaluation
    runs: int = 0
    phases: dict[str, float] = field(default_factory=dict)  # one-off FLOPs per phase


@dataclass
class Summary:
    accuracy: dict[tuple[str, str, str, str], Cell]  # (model, dataset, method, split)
    costs: dict[tuple[str, str, str], MethodCost]  # (model, dataset, method)
    methods: list[str]
    metric: str
    params: dict[str, int]  # model → parameter count

    def chance(self, model: str, dataset: str, split: str) -> float:
        return next(c.chance for (m, d, _, s), c in self.accuracy.items() if (m, d, s) == (model, dataset, split))

    def datasets(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((m, d) for m, d, _, _ in self.accuracy))

    def splits(self, model: str, dataset: str) -> list[str]:
        return list(dict.fromkeys(s for m, d, _, s in self.accuracy if (m, d) == (model, dataset)))

    def break_even(self, model: str, dataset: str, method: str, basis: str = "flops") -> float | None:
        """Queries after which `method` has cost less in total than `icl` (None when either is missing)."""
        a, b = self.costs.get((model, dataset, method)), self.costs.get((model, dataset, "icl"))
        if a is None or b is None or method == "icl":
            return None
        if basis == "flops":
            return break_even_queries(a.one_off_flops, a.query_flops, b.one_off_flops, b.query_flops)
        return break_even_queries(a.one_off_seconds, a.query_seconds, b.one_off_seconds, b.query_seconds)


def summarise(store: Store, metric: str = DEFAULT_METRIC, run_ids: Collection[str] | None = None) -> Summary:
    """Accuracy per (model, dataset, method, split) over seeds, and costs, of the stored runs (only `run_ids` when
    given: a folder may also hold runs of an earlier config or other weights, which must not be averaged in)."""
    runs = {r["run_id"]: r for r in store.runs() if run_ids is None or r["run_id"] in run_ids}
    per_seed: dict[tuple[str, str, str, str], list[tuple[float, float, float, int]]] = defaultdict(list)
    for row in store.metrics():
        if row["metric"] != metric or row["run_id"] not in runs:
            continue
        r = runs[row["run_id"]]
        key = (r["model"], r["dataset"], r["method"], row["split"])
        per_seed[key].append((row["accuracy"], row["stderr"], row["chance"], row["n"]))
    accuracy = {}
    for key, values in per_seed.items():
        accs = [v[0] for v in values]
        mean = statistics.fmean(accs)
        # Over several seeds: the standard error of the mean across seeds; with one seed: the binomial one.
        se = statistics.stdev(accs) / math.sqrt(len(accs)) if len(accs) > 1 else values[0][1]
        accuracy[key] = Cell(mean, se, values[0][2], len(accs), values[0][3])
    costs: dict[tuple[str, str, str], MethodCost] = {}
    for row in store.costs():
        r = runs.get(row["run_id"])
        if r is None:
            continue
        c = costs.setdefault((r["model"], r["dataset"], r["method"]), MethodCost())
        if row["kind"] == "one_off":
            c.one_off_flops += row["flops"]
            c.one_off_seconds += row["seconds"]
            c.one_off_peak_memory = max(c.one_off_peak_memory, row["peak_memory_bytes"])
            c.phases[row["phase"]] = c.phases.get(row["phase"], 0.0) + row["flops"]
        elif row["phase"] == "query" and row["queries"]:
            c.query_tokens += row["tokens_processed"] / row["queries"]
            c.query_flops += row["flops"] / row["queries"]
            c.runs += 1
        elif row["phase"] == "scoring" and row["queries"]:
            c.query_seconds += row["seconds"] / row["queries"]
    for c in costs.values():  # averages over seeds
        n = max(c.runs, 1)
        c.one_off_flops /= n
        c.one_off_seconds /= n
        c.query_tokens /= n
        c.query_flops /= n
        c.query_seconds /= n
        c.phases = {k: v / n for k, v in c.phases.items()}
    from adaptlab.methods import method_names

    order = {name: i for i, name in enumerate(method_names())}
    methods = sorted(dict.fromkeys(r["method"] for r in runs.values()), key=lambda m: (order.get(m, len(order)), m))
    params = {r["model"]: int(r["info"].get("model_params", 0)) for r in runs.values()}
    return Summary(accuracy=accuracy, costs=costs, methods=methods, metric=metric, params=params)
