"""Aggregate stored runs: accuracy per (model, dataset, method, split) over seeds, costs per method, break-even.

The accuracy of a split is the metric asked for (`per_char` by default) where the split has multiple-choice
questions, else (a split of open questions) the open metric asked for (`exact_match` by default); open splits also
keep their exact match and F1 side by side, and a few generated answers per method as examples."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

from adaptlab.costs import break_even_queries
from adaptlab.data.records import UPDATE_SPLITS
from adaptlab.errors import AdaptlabError
from adaptlab.evaluate import DEFAULT_METRIC
from adaptlab.grading import OPEN_METRICS
from adaptlab.methods.base import UPDATE
from adaptlab.store import AnswerRow, Store

DEFAULT_OPEN_METRIC = "exact_match"
EXAMPLES = 3  # generated answers shown per method and dataset


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
    """What a method costs on one model and dataset, per run (mean over seeds). Per-query figures are for
    deployment, one query served alone (`costs.deployment_costs`); `query_seconds` is estimated from them at the
    throughput this run measured while scoring (seconds per FLOP), plus the measured retrieval time."""

    one_off_flops: float = 0.0
    one_off_seconds: float = 0.0  # measured
    one_off_peak_memory: int = 0
    query_tokens: float = 0.0  # tokens run per query
    query_reused: float = 0.0  # cached positions a query attends to without running them (a trained memory)
    query_flops: float = 0.0
    retrieve_seconds: float = 0.0  # per query, measured
    scoring_seconds: float = 0.0  # per query, as our evaluation measured it (shared prefixes, batching)
    scoring_flops: float = 0.0
    held_bytes: float = 0.0  # memory kept while serving: a trained memory, a retrieval index
    cache_flops: float = 0.0  # prompt caching: prefilling the distinct contexts once
    cache_bytes: float = 0.0  # ... and holding their key/value caches
    cached_query_tokens: float = 0.0
    cached_query_reused: float = 0.0
    cached_query_flops: float = 0.0
    cached: bool = False  # whether contexts repeat, so that prompt caching applies
    runs: int = 0
    phases: dict[str, float] = field(default_factory=dict)  # one-off FLOPs per phase
    # An update run's: what bringing the method up to date cost (kind `update`), apart from the initial one-off
    update_flops: float = 0.0
    update_seconds: float = 0.0
    update_phases: dict[str, float] = field(default_factory=dict)  # FLOPs per `update:` phase
    updated: bool = False  # whether these are an update run's costs

    @property
    def seconds_per_flop(self) -> float:
        return self.scoring_seconds / self.scoring_flops if self.scoring_flops else 0.0

    @property
    def query_seconds(self) -> float:
        """Estimated seconds of one deployed query (see the class docstring)."""
        return self.query_flops * self.seconds_per_flop + self.retrieve_seconds


@dataclass(frozen=True)
class Option:
    """One way to deploy: a method as run, or its prompt-cached variant (`label` ends in "+cache")."""

    model: str
    dataset: str
    method: str
    label: str
    n_params: int
    one_off_flops: float
    one_off_seconds: float
    query_flops: float
    query_tokens: float  # input tokens run per query
    query_reused: float  # cached input tokens per query
    query_seconds: float
    held_bytes: float
    cached: bool = False
    # Measured cost of one update (an update run's option); None: unmeasured, an update rebuilds (= the one-off)
    update_flops: float | None = None
    update_seconds: float | None = None


@dataclass
class Summary:
    accuracy: dict[tuple[str, str, str, str], Cell]  # (model, dataset, method, split)
    costs: dict[tuple[str, str, str], MethodCost]  # (model, dataset, method)
    methods: list[str]
    metric: str
    params: dict[str, int]  # model → parameter count
    open_metric: str = DEFAULT_OPEN_METRIC
    # Open splits: every graded metric's cell, (model, dataset, method, split) → {"exact_match": .., "f1": .., ..}
    open_cells: dict[tuple[str, str, str, str], dict[str, Cell]] = field(default_factory=dict)
    # A few generated answers per (model, dataset, method), from its first stored run
    examples: dict[tuple[str, str, str], list[AnswerRow]] = field(default_factory=dict)

    def is_open(self, model: str, dataset: str, split: str) -> bool:
        """Whether the split's accuracy is an open-question metric (no multiple-choice question in it)."""
        return any((m, d, s) == (model, dataset, split) for m, d, _, s in self.open_cells)

    def metric_of(self, model: str, dataset: str, split: str) -> str:
        return self.open_metric if self.is_open(model, dataset, split) else self.metric

    def chance(self, model: str, dataset: str, split: str) -> float:
        return next(c.chance for (m, d, _, s), c in self.accuracy.items() if (m, d, s) == (model, dataset, split))

    def datasets(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((m, d) for m, d, _, _ in self.accuracy))

    def splits(self, model: str, dataset: str) -> list[str]:
        found = list(dict.fromkeys(s for m, d, _, s in self.accuracy if (m, d) == (model, dataset)))
        if all(s in UPDATE_SPLITS for s in found):  # an update's splits in their own order
            return sorted(found, key=UPDATE_SPLITS.index)
        return found

    def options(self, model: str, dataset: str) -> list[Option]:
        """Every way to deploy on this model and dataset: each method as run, and, where its contexts repeat (ICL),
        the same method with the contexts' key/value caches computed once and kept (same scores, other cost)."""
        out = []
        for (m, d, method), c in self.costs.items():
            if (m, d) != (model, dataset):
                continue
            n = self.params.get(model, 0)
            update = (c.update_flops, c.update_seconds) if c.updated else (None, None)
            out.append(Option(m, d, method, method, n, c.one_off_flops, c.one_off_seconds, c.query_flops,
                              c.query_tokens, c.query_reused, c.query_seconds, c.held_bytes, False, *update))
            if c.cached:  # the contexts' caches are built once at first, and again at every update
                cache_seconds = c.cache_flops * c.seconds_per_flop
                cached_update = ((c.update_flops + c.cache_flops, c.update_seconds + cache_seconds) if c.updated
                                 else (None, None))
                out.append(Option(
                    m, d, method, f"{method}+cache", n, c.one_off_flops + c.cache_flops,
                    c.one_off_seconds + cache_seconds, c.cached_query_flops,
                    c.cached_query_tokens, c.cached_query_reused,
                    c.cached_query_flops * c.seconds_per_flop + c.retrieve_seconds, c.held_bytes + c.cache_bytes,
                    True, *cached_update))
        order = {name: i for i, name in enumerate(self.methods)}
        return sorted(out, key=lambda o: (order.get(o.method, len(order)), o.cached))

    def break_even(self, model: str, dataset: str, method: str, basis: str = "flops",
                   against: str = "icl") -> float | None:
        """Queries after which `method` has cost less in total than `against` (an option label: `icl`, or
        `icl+cache` for prompt-cached ICL); None when either is missing. Basis `flops`, or `seconds` (one-off
        measured, per query estimated at the measured throughput)."""
        options = {o.label: o for o in self.options(model, dataset)}
        a, b = options.get(method), options.get(against)
        if a is None or b is None or method == against:
            return None
        if basis == "flops":
            return break_even_queries(a.one_off_flops, a.query_flops, b.one_off_flops, b.query_flops)
        return break_even_queries(a.one_off_seconds, a.query_seconds, b.one_off_seconds, b.query_seconds)


def _cell(values: list[tuple[float, float, float, int]]) -> Cell:
    accs = [v[0] for v in values]
    mean = statistics.fmean(accs)
    # Over several seeds: the standard error of the mean across seeds; with one seed: the run's own.
    se = statistics.stdev(accs) / math.sqrt(len(accs)) if len(accs) > 1 else values[0][1]
    return Cell(mean, se, values[0][2], len(accs), values[0][3])


def summarise(store: Store, metric: str = DEFAULT_METRIC, run_ids: Collection[str] | None = None,
              open_metric: str = DEFAULT_OPEN_METRIC) -> Summary:
    """Accuracy per (model, dataset, method, split) over seeds, and costs, of the stored runs (only `run_ids` when
    given: a folder may also hold runs of an earlier config or other weights, which must not be averaged in).
    A split's accuracy is `metric` where the split has it (multiple choice), else `open_metric` (open questions)."""
    if open_metric not in OPEN_METRICS:
        raise AdaptlabError(f"unknown open metric {open_metric!r}; known: {', '.join(OPEN_METRICS)}")
    runs = {r["run_id"]: r for r in store.runs() if run_ids is None or r["run_id"] in run_ids}
    by_split: dict[tuple[str, str], dict[str, tuple[float, float, float, int]]] = defaultdict(dict)
    for row in store.metrics():
        if row["run_id"] in runs:
            by_split[(row["run_id"], row["split"])][row["metric"]] = (row["accuracy"], row["stderr"], row["chance"],
                                                                     row["n"])
    per_seed: dict[tuple[str, str, str, str], list[tuple[float, float, float, int]]] = defaultdict(list)
    open_seeds: dict[tuple[str, str, str, str], dict[str, list[tuple[float, float, float, int]]]] = {}
    for (run_id, split), values in by_split.items():
        r = runs[run_id]
        key = (r["model"], r["dataset"], r["method"], split)
        if metric in values:
            per_seed[key].append(values[metric])
        elif open_metric in values:
            per_seed[key].append(values[open_metric])
            graded = open_seeds.setdefault(key, {})
            for name in OPEN_METRICS:
                if name in values:
                    graded.setdefault(name, []).append(values[name])
    accuracy = {key: _cell(values) for key, values in per_seed.items()}
    open_cells = {key: {name: _cell(v) for name, v in graded.items()} for key, graded in open_seeds.items()}
    examples: dict[tuple[str, str, str], list[AnswerRow]] = {}
    for run_id, answer in store.answers():
        r = runs.get(run_id)
        if r is None:
            continue
        shown = examples.setdefault((r["model"], r["dataset"], r["method"]), [])
        if len(shown) < EXAMPLES and all(a.question_id != answer.question_id for a in shown):
            shown.append(answer)
    costs: dict[tuple[str, str, str], MethodCost] = {}
    for row in store.costs():
        r = runs.get(row["run_id"])
        if r is None:
            continue
        c = costs.setdefault((r["model"], r["dataset"], r["method"]), MethodCost())
        per = 1 / row["queries"] if row["queries"] else 0.0
        kind, phase = row["kind"], row["phase"]
        if kind == "one_off":
            c.one_off_flops += row["flops"]
            c.one_off_seconds += row["seconds"]
            c.one_off_peak_memory = max(c.one_off_peak_memory, row["peak_memory_bytes"])
            c.phases[phase] = c.phases.get(phase, 0.0) + row["flops"]
        elif kind == UPDATE:
            c.update_flops += row["flops"]
            c.update_seconds += row["seconds"]
            c.update_phases[phase] = c.update_phases.get(phase, 0.0) + row["flops"]
            c.updated = True
        elif kind == "held":
            c.held_bytes += row["peak_memory_bytes"]
        elif kind == "cache":
            c.cache_flops += row["flops"]
            c.cache_bytes += row["peak_memory_bytes"]
            c.cached = True
        elif phase == "query":
            c.query_tokens += row["tokens_processed"] * per
            c.query_reused += row["tokens_reused"] * per
            c.query_flops += row["flops"] * per
            c.runs += 1
        elif phase == "query_cached":
            c.cached_query_tokens += row["tokens_processed"] * per
            c.cached_query_reused += row["tokens_reused"] * per
            c.cached_query_flops += row["flops"] * per
        elif phase == "retrieve":
            c.retrieve_seconds += row["seconds"] * per
            c.query_flops += row["flops"] * per
        elif phase == "scoring":
            c.scoring_seconds += row["seconds"] * per
            c.scoring_flops += row["flops"] * per
    for c in costs.values():  # averages over seeds
        n = max(c.runs, 1)
        for name in ("one_off_flops", "one_off_seconds", "query_tokens", "query_reused", "query_flops",
                     "retrieve_seconds", "scoring_seconds", "scoring_flops", "held_bytes", "cache_flops",
                     "cache_bytes", "cached_query_tokens", "cached_query_reused", "cached_query_flops",
                     "update_flops", "update_seconds"):
            setattr(c, name, getattr(c, name) / n)
        c.phases = {k: v / n for k, v in c.phases.items()}
        c.update_phases = {k: v / n for k, v in c.update_phases.items()}
    from adaptlab.methods import base_method, method_names

    order = {name: i for i, name in enumerate(method_names())}
    methods = sorted(dict.fromkeys(r["method"] for r in runs.values()),
                     key=lambda m: (order.get(base_method(m), len(order)), m))
    params = {r["model"]: int(r["info"].get("model_params", 0)) for r in runs.values()}
    return Summary(accuracy=accuracy, costs=costs, methods=methods, metric=metric, params=params,
                   open_metric=open_metric, open_cells=open_cells, examples=examples)
