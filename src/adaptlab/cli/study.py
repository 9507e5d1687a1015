"""The study commands: `eval`, `run`, `finetune`, `report`, `recommend`, `export`, `organism train` and `demo`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from adaptlab.cli.common import MODEL_HELP, app, check, console, progress, valid
from adaptlab.errors import AdaptlabError
from adaptlab.methods import method_names

Track = Annotated[str | None, typer.Option(
    "--track", help="log every run to an experiment tracker: mlflow (the `track` extra); default: the config's "
                    "`track`")]
TrackingUri = Annotated[str | None, typer.Option(
    "--tracking-uri", help="the tracker's store or server (default: sqlite:///RUNDIR/mlruns/mlflow.db); implies "
                           "--track mlflow")]


@app.command("eval")
def eval_command(
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)],
    data: Annotated[Path, typer.Option("--data", help="dataset folder")],
    method: Annotated[str, typer.Option("--method", help=" | ".join(method_names()))] = "pretrained",
    out: Annotated[Path, typer.Option("--out", help="results folder (results.sqlite)")] = Path("out/eval"),
    seed: Annotated[int, typer.Option(help="seed (ICL subsampling, fine-tuning)", min=0, max=2**63 - 1)] = 0,
    k: Annotated[int, typer.Option("--k", help="documents retrieved per question (rag)")] = 8,
    retriever: Annotated[str, typer.Option(help="bm25 | dense (rag)")] = "bm25",
    icl_fraction: Annotated[float, typer.Option(help="use at most this fraction of documents in context, (0, 1]")
                            ] = 1.0,
    max_context_tokens: Annotated[int | None, typer.Option(help="cap on context tokens")] = None,
    limit: Annotated[int | None, typer.Option(help="first N questions of each split only", min=1)] = None,
    retention: Annotated[str, typer.Option(
        help="none | auto | general-knowledge | fresh-worlds: what the adapted model still knows, stored beside the "
             "run (split `retention`)")] = "none",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    dtype: Annotated[str | None, typer.Option(help="float32 | bfloat16 | float16")] = None,
    track: Track = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Score a model on a dataset with one method; accuracy per split, and what it cost."""
    from adaptlab.report.tables import print_run
    from adaptlab.runs import RunConfig
    from adaptlab.runs.track import tracking
    from adaptlab.store import Store

    # One run of an ordinary config, through the same plan, lock and store as `adaptlab run`; the folder keeps no
    # config, so that a report there shows every run `eval` stored.
    cfg = valid(lambda: RunConfig(models=[model], datasets=[{"path": str(data)}], methods=[method], seeds=[seed],
                                   limit=limit, retention=retention, device=device, dtype=dtype,
                                   options={"k": k, "retriever": retriever, "icl_fraction": icl_fraction,
                                            "max_context_tokens": max_context_tokens}))
    counts = _execute_with_progress(cfg, out, keep_config=False, track=tracking(track, tracking_uri, None))
    (rid,) = counts["run_ids"]
    with Store(out / "results.sqlite") as store:
        print_run(console, store.result(rid))
    if counts["skipped"]:
        console.print(f"already stored in {out / 'results.sqlite'} as run {rid} (the same experiment: same model "
                      "weights, data, method, options and seed); nothing recomputed", highlight=False)
    else:
        console.print(f"stored in {out / 'results.sqlite'} as run {rid}", highlight=False)
    _print_tracked(counts)


@app.command("run")
def run_command(
    config: Annotated[Path, typer.Argument(help="YAML experiment config (see adaptlab.runs)")],
    out: Annotated[Path, typer.Option("--out", help="run folder: results.sqlite, datasets, checkpoints")],
    executor: Annotated[str | None, typer.Option(
        help="sequential (one run after another here) | processes (side by side, one worker process per core) | "
             "ray (each run a Ray task); default: the config's")] = None,
    address: Annotated[str | None, typer.Option(
        help="Ray cluster to run on (e.g. auto, ray://head:10001); none: start a local Ray")] = None,
    track: Track = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Run every model × dataset × method × seed of a config; resumable, skips what is done."""
    from adaptlab.runs import load_config
    from adaptlab.runs.track import tracking

    cfg = load_config(config)
    run_command_with(cfg, out, executor=executor, address=address, track=tracking(track, tracking_uri, cfg.track))


@app.command("finetune")
def finetune_command(
    config: Annotated[Path, typer.Argument(help="YAML experiment config (see adaptlab.runs)")],
    out: Annotated[Path, typer.Option("--out", help="run folder (the one `adaptlab run` is given)")],
    only: Annotated[str | None, typer.Option(help="only the runs whose label contains this, e.g. 'seed 0'")] = None,
) -> None:
    """Fine-tune the config's fine-tuning runs on every process this is launched with (torchrun, accelerate
    launch; or alone); `adaptlab run` then evaluates the trained models instead of training again."""
    from adaptlab.runs import load_config
    from adaptlab.runs.finetune import finetune_runs

    main = os.environ.get("RANK", "0") == "0"
    counts = finetune_runs(load_config(config), out, only, log=lambda m: console.print(m, highlight=False))
    if not counts["trained"] and not counts["skipped"]:
        which = f" whose label contains {only!r}" if only else ""
        raise AdaptlabError(f"{config}: no fine-tuning runs{which} to train (methods: "
                            f"{', '.join(load_config(config).methods)})")
    if main:
        console.print(f"{counts['trained']} runs trained, {counts['skipped']} already trained or stored; "
                      f"evaluate them: adaptlab run {config} --out {out}", highlight=False)


@app.command("report")
def report_command(
    rundir: Annotated[Path, typer.Argument(help="run folder with results.sqlite")],
    params: Annotated[float, typer.Option(help="project costs to a model of this many parameters",
                                          callback=lambda v: check(v, v > 0, "> 0"))] = 7e9,
    price: Annotated[float, typer.Option(help="price per GPU-hour, dollars", min=0)] = 2.5,
    gpu_flops: Annotated[float, typer.Option(help="sustained GPU throughput, FLOP/s",
                                             callback=lambda v: check(v, v > 0, "> 0"))] = 4e14,
    metric: Annotated[str, typer.Option(help="sum | per_token | per_char | calibrated")] = "per_char",
    open_metric: Annotated[str, typer.Option(help="open questions' accuracy: exact_match | f1 | contains")] = \
        "exact_match",
    queries_per_day: Annotated[float, typer.Option(help="workload assumed by 'which to use when'")] = 1000.0,
    updates_per_month: Annotated[float, typer.Option(help="workload: knowledge updates per month")] = 1.0,
    horizon_days: Annotated[float, typer.Option(help="workload: days the deployment runs")] = 30.0,
    track: Track = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Write report.md and a self-contained report.html for a run folder; with tracking (--track, or the folder's
    config), log them to the tracker too."""
    from adaptlab.report.build import build_report
    from adaptlab.report.decide import Workload
    from adaptlab.runs.track import Tracker, configured, track_report, tracking
    from adaptlab.store import results_db

    projection = _prices(params, price, gpu_flops, 80.0, None, None)
    workload = Workload(queries_per_day, updates_per_month, horizon_days)
    options = tracking(track, tracking_uri, configured(rundir) if rundir.is_dir() else None)
    tracker = None
    if options is not None:
        results_db(rundir)  # a folder with no results is one line before a tracker store is made in it
        tracker = Tracker(options, rundir)  # before the report is written: a missing or bad tracker is one line
    md, html = build_report(rundir, projection, metric, workload=workload, open_metric=open_metric)
    console.print(f"wrote {md} and {html}", highlight=False)
    if tracker is not None:
        mlflow_run = track_report(tracker, rundir, [md, html])
        console.print(f"logged the report to MLflow run {mlflow_run}", highlight=False)


@app.command("recommend")
def recommend_command(
    rundir: Annotated[Path, typer.Argument(help="run folder with results.sqlite")],
    queries_per_day: Annotated[float, typer.Option(help="query volume")] = 1000.0,
    updates_per_month: Annotated[float, typer.Option(help="how often the knowledge changes (with update runs: each "
                                                          "update at its path's measured cost)")] = 1.0,
    horizon_days: Annotated[float, typer.Option(help="how long the deployment runs")] = 30.0,
    min_accuracy: Annotated[float | None, typer.Option(help="keep methods with at least this accuracy")] = None,
    split: Annotated[str | None, typer.Option(help="split the accuracy is read on (default: mean of splits; with "
                                                   "update runs, of the update's splits, read after the update: "
                                                   "updated, updated_reversal, new, unchanged); the datasets that "
                                                   "have it")] = None,
    dataset: Annotated[str | None, typer.Option(help="only this dataset of the folder (default: each)")] = None,
    params: Annotated[float | None, typer.Option(help="project to a model of this many parameters")] = None,
    price: Annotated[float, typer.Option(help="price per GPU-hour, dollars")] = 2.5,
    gpu_flops: Annotated[float, typer.Option(help="sustained GPU throughput, FLOP/s")] = 4e14,
    gpu_memory_gb: Annotated[float, typer.Option(help="GPU memory, GB (prices held caches)")] = 80.0,
    input_price: Annotated[float | None, typer.Option(help="API $ per million input tokens")] = None,
    cached_input_price: Annotated[float | None, typer.Option(help="API $ per million cached input tokens")] = None,
    metric: Annotated[str, typer.Option(help="sum | per_token | per_char | calibrated")] = "per_char",
    allow_chance: Annotated[bool, typer.Option(help="also recommend options not above chance")] = False,
    min_retention: Annotated[float | None, typer.Option(
        help="keep methods whose adapted model still answers at least this share of the retention evaluation "
             "(runs stored with `retention`)")] = None,
    open_metric: Annotated[str, typer.Option(help="open questions' accuracy: exact_match | f1 | contains")] = \
        "exact_match",
) -> None:
    """The cheapest method for a workload (volume, update rate, horizon) that meets an accuracy, and where the
    choice flips. Controls and options at chance are shown, never recommended."""
    from adaptlab.report.decide import Workload, explain, money, recommend, scale, why_not
    from adaptlab.report.tables import human_bytes

    prices = _prices(params, price, gpu_flops, gpu_memory_gb, input_price, cached_input_price)
    workload = Workload(queries_per_day, updates_per_month, horizon_days)
    for model, name, d in recommend(rundir, workload, prices, min_accuracy=min_accuracy, split=split,
                                    metric=metric, open_metric=open_metric, dataset=dataset,
                                    allow_chance=allow_chance, min_retention=min_retention):
        table = Table(title=f"{name} · {model} — {workload.describe()}")
        retained = any(c.retention for c in d.costed)
        for col in ("option", f"accuracy ({split or 'mean'})", *(("retention",) if retained else ()), "one-off",
                    "per update", "per query", "memory held", "total", "per 1k queries", "not chosen because"):
            table.add_column(col, justify="left" if col == "option" else "right", no_wrap=col == "option")
        for c in sorted(d.costed, key=lambda c: c.total(workload)):
            ok = c in d.eligible
            acc = f"{c.accuracy.mean:.3f} ± {c.accuracy.stderr:.3f}" if c.accuracy else "—"
            mark = "→ " if c is d.choice else ("  " if ok else "✗ ")
            kept = [f"{c.retention.mean:.3f} ± {c.retention.stderr:.3f}" if c.retention else "—"] if retained else []
            table.add_row(mark + c.option.label, acc, *kept, money(c.one_off), money(c.per_update), money(c.per_query),
                          human_bytes(c.option.held_bytes) if c.option.held_bytes else "—", money(c.total(workload)),
                          money(c.per_1k(workload)), why_not(c, min_accuracy, allow_chance, min_retention) or "")
        console.print(table)
        console.print(explain(d, model, name, split, min_accuracy).replace("**", ""), highlight=False)
        console.print(scale(prices, d.costed[0].option.n_params if d.costed else 0), highlight=False)


@app.command("export")
def export_command(
    rundir: Annotated[Path, typer.Argument(help="run folder with results.sqlite")],
    run: Annotated[str, typer.Option("--run", help="the run's id as stored in RUNDIR/results.sqlite, or a unique "
                                                   "start of it, e.g. 'organism|simple-reversals|ft|seed0'")],
    out: Annotated[Path, typer.Option("--out", help="folder to write (new, unless --force)")],
    fmt: Annotated[str | None, typer.Option(
        "--format", help="adapter | merged | gguf | memory (default: what the method trained: adapter for LoRA, "
                         "merged for full fine-tuning, memory)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace --out if it exists")] = False,
) -> None:
    """Write the trained artefact of a stored run: a LoRA adapter (PEFT), merged weights (a model folder), or a
    trained memory prefix; the weights its stored scores were computed with."""
    from adaptlab.report.tables import human_bytes
    from adaptlab.runs.export import export_run

    done = export_run(rundir, run, out, fmt, force)
    what = {"adapter": "LoRA adapter", "merged": "merged weights", "memory": "trained memory"}[done.format]
    console.print(f"wrote the {what} of run {done.run.run_id} to {done.folder} "
                  f"({human_bytes(done.nbytes)}; base model {done.base})", highlight=False)


def _prices(params: float | None, price: float, gpu_flops: float, gpu_memory_gb: float,
            input_price: float | None, cached_input_price: float | None) -> Any:
    import math

    from adaptlab.costs import Prices, TokenPrices

    for name, value in (("--params", params), ("--price", price), ("--gpu-flops", gpu_flops),
                        ("--gpu-memory-gb", gpu_memory_gb), ("--input-price", input_price),
                        ("--cached-input-price", cached_input_price)):
        if value is not None and (not math.isfinite(value) or value < 0):
            raise AdaptlabError(f"{name} must be a number >= 0, got {value}")
    for name, value in (("--params", params), ("--gpu-flops", gpu_flops), ("--gpu-memory-gb", gpu_memory_gb)):
        if value is not None and value <= 0:
            raise AdaptlabError(f"{name} must be > 0, got {value}")
    tokens = None if input_price is None else TokenPrices(
        input_price, input_price if cached_input_price is None else cached_input_price)
    return Prices(params=params, price_per_gpu_hour=price, gpu_flops=gpu_flops, gpu_memory_bytes=gpu_memory_gb * 1e9,
                  tokens=tokens)


organism_app = typer.Typer(help="The model organism: a small transformer trained here to learn in context.",
                            no_args_is_help=True)
app.add_typer(organism_app, name="organism")


@organism_app.command("train")
def organism_train(
    out: Annotated[Path, typer.Option("--out", help="checkpoint folder")] = Path("out/organism"),
    config_file: Annotated[Path | None, typer.Option(
        "--config", help="YAML of training settings (OrganismConfig fields; default: the recipe's first stage)",
        exists=True, dir_okay=False)] = None,
    steps: Annotated[int | None, typer.Option(help="training steps (default: the config's)", min=1)] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (default: the config's, 0)")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads (default: OMP_NUM_THREADS or cores)",
                                                min=1)] = None,
) -> None:
    """Pretrain the organism on random synthetic worlds (reproduces the shipped checkpoint). An interrupted run
    resumes from OUT/training_state when the same command is run again."""
    import torch

    from adaptlab.organism.train import OrganismConfig, pretrain
    from adaptlab.paths import writable_dir
    from adaptlab.runs import load_yaml_model
    from adaptlab.threads import configure_threads

    base = load_yaml_model(config_file, OrganismConfig) if config_file else OrganismConfig()
    overrides = {k: v for k, v in (("seed", seed), ("steps", steps)) if v is not None}
    config = valid(lambda: OrganismConfig(**{**base.model_dump(), **overrides}))
    writable_dir(out, "checkpoint folder")  # after the config is valid: nothing is made for a bad one

    n = configure_threads()
    if threads is not None:
        torch.set_num_threads(threads)
        n = threads
    with progress() as bar:
        task = bar.add_task("organism pretraining", total=config.steps)

        def log(entry: dict[str, object]) -> None:
            bar.console.print(" ".join(f"{k}={v}" for k, v in entry.items()), highlight=False)

        record = pretrain(config, out, log=log, on_step=lambda step: bar.update(task, completed=step))
    console.print(f"organism saved to {out} after {record['seconds']:.0f} s on {n} threads", highlight=False)


@app.command("demo")
def demo(
    model: Annotated[str, typer.Option(help=f"organism (default) or any model: {MODEL_HELP}")] = "organism",
    out: Annotated[Path, typer.Option("--out", help="run folder: datasets, results.sqlite, report")] = Path(
        "out/demo"
    ),
) -> None:
    """The main job: the study on CPU in minutes — the preset's datasets × methods × seeds, then the report. CPU
    kernels are pinned (ATEN_CPU_CAPABILITY, MKL_CBWR; a value you set is kept) so that any x86-64 machine stores
    the same numbers; the digest printed at the end identifies them."""
    from adaptlab.kernels import pin_kernels

    pins = pin_kernels()  # first: before anything imports torch, and inherited by the worker processes
    from adaptlab.demo import demo_config
    from adaptlab.report.build import build_report
    from adaptlab.store import scores_digest

    config = demo_config(model)
    run_ids = run_command_with(config, out / model)
    md, html = build_report(out / model, run_ids=run_ids)
    console.print(f"report: {md} and {html}", highlight=False)
    digest = scores_digest(out / model / "results.sqlite", run_ids)
    console.print(f"scores digest {digest[:16]} ({len(run_ids)} runs; kernels: "
                  f"{' '.join(f'{k}={v}' for k, v in pins.items())})", highlight=False)


def _execute_with_progress(cfg: Any, out: Path, executor: str | None = None, address: str | None = None,
                           keep_config: bool = True, track: Any = None) -> dict[str, Any]:
    """`runs.execute` with progress bars: the runs, and the phase of the current one (scoring, fine-tuning, ...)."""
    from adaptlab.progress import listening
    from adaptlab.runs import execute

    bar = progress()
    runs = bar.add_task("runs", total=None)
    phase = bar.add_task("", total=None, visible=False)

    def on_run(label: str, done: int, total: int, n_questions: int) -> None:
        bar.start()  # only once the run folder is ours and the plan is valid: errors stay one line
        bar.update(runs, description=label, completed=done, total=total)

    def on_error(label: str, message: str) -> None:
        bar.console.print(f"failed: {label}: {message}", highlight=False, markup=False, soft_wrap=True)

    def on_phase(name: str, done: int, total: int, detail: str) -> None:
        bar.update(phase, description=f"  {name} {detail}".rstrip(), completed=done, total=total,
                   visible=done < total)

    try:
        with listening(on_phase):
            return execute(cfg, out, on_run=on_run, executor=executor, address=address, on_error=on_error,
                           keep_config=keep_config, track=track)
    finally:
        if bar.live.is_started:  # stopping a bar that never started prints an empty line
            bar.stop()


def _print_tracked(counts: dict[str, Any]) -> None:
    if "tracked" in counts:
        already = len(counts["run_ids"]) - counts["tracked"]
        console.print(f"{counts['tracked']} runs logged to MLflow" + (f", {already} already there or not stored"
                                                                      if already else ""), highlight=False)


def run_command_with(cfg: Any, out: Path, executor: str | None = None, address: str | None = None,
                     track: Any = None) -> list[str]:
    """Run a config into OUT with progress bars, then print accuracy per split; returns the config's run ids.
    A run that fails on Ray is printed as it fails, the others go on, and the command ends with exit code 2."""
    from adaptlab.report.tables import print_summary

    counts = _execute_with_progress(cfg, out, executor=executor, address=address, track=track)
    console.print(f"{counts['ran']} runs done, {counts['skipped']} already stored → {out / 'results.sqlite'}",
                  highlight=False)
    _print_tracked(counts)
    print_summary(console, out / "results.sqlite", counts["run_ids"])
    if counts["failed"]:
        raise AdaptlabError(f"{counts['failed']} of {counts['planned']} runs failed (each reported above) and are not "
                            "stored; the same command retries them")
    return counts["run_ids"]
