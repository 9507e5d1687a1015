"""The `adaptlab` command line. Every user error prints one line and exits with code 2."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from adaptlab.errors import AdaptlabError
from adaptlab.methods import method_names
from adaptlab.models.aliases import ALIASES

T = TypeVar("T")

app = typer.Typer(
    help="adaptlab: in-context learning vs fine-tuning vs both — accuracy and cost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Make, inspect and validate datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# Piped or redirected output is for files and other programs: tables keep their full width there (rich would cut
# them at 80 columns) unless COLUMNS says otherwise.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 1000)
err_console = Console(stderr=True)
MIN_WIDTH = 60  # below this a table cuts its numbers away: it wraps past the terminal's edge instead
for _console in (console, err_console):
    if _console.width < MIN_WIDTH:
        _console.width = MIN_WIDTH

MODEL_HELP = (f"an alias ({', '.join(ALIASES)}), a local model folder (config.json + safetensors), a .gguf file, "
              "or a Hugging Face hub id (from the local cache when offline)")


def _check(value: T, ok: bool, condition: str) -> T:
    """An option's value, or a usage error (one line) when it is outside `condition`."""
    if not ok:
        raise typer.BadParameter(f"{value} is not {condition}")
    return value


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


@data_app.command("list")
def data_list() -> None:
    """List the datasets adaptlab can make, with the parameters each takes (`data make NAME --set KEY=VALUE`)."""
    from adaptlab.data.registry import GENERATORS, generator, parameters

    table = Table("name", "version", "description", "--set parameters (default)")
    for name in GENERATORS:
        module = generator(name)
        params = ", ".join(f"{key}={_show_default(value)}" for key, value in parameters(name).items())
        table.add_row(name, module.VERSION, module.DESCRIPTION.split("\n")[0], params)
    console.print(table)


def _show_default(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if value == "" else str(value)


@data_app.command("make")
def data_make(
    name: Annotated[str, typer.Argument(help="dataset name (see `adaptlab data list`)")],
    out: Annotated[Path, typer.Option("--out", help="output folder (missing, empty, or an adaptlab dataset)")],
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="generator parameter KEY=VALUE (each dataset's are listed by `adaptlab data list`)")] = None,
    force: Annotated[bool, typer.Option(help="overwrite dataset files adaptlab did not write")] = False,
) -> None:
    """Generate a dataset into a folder. Files that adaptlab did not write there are never overwritten
    without --force."""
    from adaptlab.data.io import check_overwrite
    from adaptlab.data.registry import make_dataset, parse_params
    from adaptlab.paths import writable_dir

    params = parse_params(name, set_ or [])
    if not force:
        check_overwrite(out)
    writable_dir(out)
    with progress() as bar:

        def track(items: Iterable[T], description: str = "") -> Iterable[T]:
            return bar.track(items, description=f"{name}: {description}")

        manifest = make_dataset(name, seed, out, params, track=track)
    splits = ", ".join(f"{s}={n}" for s, n in manifest.splits.items())
    console.print(f"{name} (seed {seed}) → {out}: {manifest.documents} documents, {splits}")


@data_app.command("synthesize")
def data_synthesize(
    dataset_dir: Annotated[Path, typer.Argument(help="dataset folder whose documents the questions are about")],
    model: Annotated[str, typer.Option(help=f"the writer: {MODEL_HELP}, or openai:URL#name")],
    out: Annotated[Path, typer.Option(help="output folder (missing, empty, or an adaptlab dataset)")],
    per_document: Annotated[int, typer.Option(help="question-answer pairs asked for per document", min=1)] = 3,
    choices: Annotated[int | None, typer.Option(help="also multiple choice, K choices", min=2, max=26)] = None,
    seed: Annotated[int, typer.Option(help="seed (generations, distractors and their order)", min=0)] = 0,
    max_new_tokens: Annotated[int | None, typer.Option(help="writer tokens per document (64 a pair)", min=1)] = None,
    cache: Annotated[Path | None, typer.Option(help="generation cache (default: in the adaptlab cache folder)")] = None,
    force: Annotated[bool, typer.Option(help="overwrite dataset files adaptlab did not write")] = False,
) -> None:
    """Open questions a model writes about each document, kept when it answers them with it and not without."""
    from adaptlab.data.io import load_dataset
    from adaptlab.models import load_model
    from adaptlab.progress import listening
    from adaptlab.training.synthesize import summary, synthesize_dataset

    source, lm = load_dataset(dataset_dir), load_model(model)
    with progress() as bar:
        task = bar.add_task("", total=None)
        with listening(lambda name, done, total, _: bar.update(task, description=name, completed=done, total=total)):
            manifest, result = synthesize_dataset(lm, source, out, cache, writer=model, per_document=per_document,
                                                  choices=choices, seed=seed, max_new_tokens=max_new_tokens,
                                                  force=force)
    splits = ", ".join(f"{s}={n}" for s, n in manifest.splits.items())
    console.print(f"{summary(result.counts)}\n{manifest.name} → {out}: {manifest.documents} documents, {splits}",
                  highlight=False)


@data_app.command("show")
def data_show(
    folder: Annotated[Path, typer.Argument(help="dataset folder")],
    examples: Annotated[int, typer.Option(help="examples to show per split", min=0)] = 2,
) -> None:
    """Counts per split, chance levels and a few examples."""
    from adaptlab.data.io import load_dataset

    ds = load_dataset(folder)
    console.print(f"[bold]{ds.name}[/] — {folder}: {len(ds.documents)} documents, {len(ds.oracle)} oracle")
    if ds.manifest and ds.manifest.description:
        console.print(ds.manifest.description.split("\n")[0])
    table = Table("split", "questions", "choices", "chance")
    for split in ds.splits:
        qs = ds.split(split)
        n_choices = sorted({len(q.choices) for q in qs})
        table.add_row(split, str(len(qs)), "/".join(map(str, n_choices)), f"{ds.chance(split):.3f}")
    console.print(table)
    for doc in ds.documents[:examples]:
        console.print(f"[dim]document {doc.id}:[/] {doc.text}", markup=True, highlight=False)
    for split in ds.splits:
        for q in ds.split(split)[:examples]:
            console.print(f"[dim]{split} {q.id}:[/] {q.prompt!r}", highlight=False)
            for i, choice in enumerate(q.choices):
                mark = "✓" if i == q.answer else " "
                console.print(f"    {mark} {choice!r}", highlight=False, markup=False)


@data_app.command("validate")
def data_validate(path: Annotated[Path, typer.Argument(help="dataset folder or one JSONL file")]) -> None:
    """Check a dataset folder or JSONL file against adaptlab's schema."""
    from adaptlab.data.io import validate_path

    console.print(validate_path(path), highlight=False)


@data_app.command("export-lm-eval")
def data_export_lm_eval(
    folder: Annotated[Path, typer.Argument(help="dataset folder")],
    out: Annotated[Path, typer.Option("--out", help="task folder for lm-eval's --include_path")],
    with_context: Annotated[bool, typer.Option(help="put all training documents before every prompt (ICL)")] = False,
) -> None:
    """Export a dataset as lm-evaluation-harness multiple_choice tasks (one per split)."""
    from adaptlab.context import build_context
    from adaptlab.data.export import export_lm_eval
    from adaptlab.data.io import load_dataset
    from adaptlab.models.prompts import SEPARATOR
    from adaptlab.paths import writable_dir

    ds = load_dataset(folder)
    writable_dir(out, "task folder")
    prefix = build_context(ds.documents) + SEPARATOR if with_context else ""
    names = export_lm_eval(ds, out, prefix)
    console.print(f"wrote {len(names)} tasks to {out}: {', '.join(names)}", highlight=False)
    console.print(f"run: lm_eval --model hf --model_args pretrained=MODEL_DIR --include_path {out} --tasks {names[0]}",
                  highlight=False)


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
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    dtype: Annotated[str | None, typer.Option(help="float32 | bfloat16 | float16")] = None,
) -> None:
    """Score a model on a dataset with one method; accuracy per split, and what it cost."""
    from adaptlab.report.tables import print_run
    from adaptlab.runs import RunConfig
    from adaptlab.store import Store

    # One run of an ordinary config, through the same plan, lock and store as `adaptlab run`; the folder keeps no
    # config, so that a report there shows every run `eval` stored.
    cfg = _valid(lambda: RunConfig(models=[model], datasets=[{"path": str(data)}], methods=[method], seeds=[seed],
                                   limit=limit, device=device, dtype=dtype,
                                   options={"k": k, "retriever": retriever, "icl_fraction": icl_fraction,
                                            "max_context_tokens": max_context_tokens}))
    counts = _execute_with_progress(cfg, out, keep_config=False)
    (rid,) = counts["run_ids"]
    with Store(out / "results.sqlite") as store:
        print_run(console, store.result(rid))
    if counts["skipped"]:
        console.print(f"already stored in {out / 'results.sqlite'} as run {rid} (the same experiment: same model "
                      "weights, data, method, options and seed); nothing recomputed", highlight=False)
    else:
        console.print(f"stored in {out / 'results.sqlite'} as run {rid}", highlight=False)


def _valid(make: Callable[[], T]) -> T:
    """A config built from command-line options; a bad value is one line that names the flag (`--icl-fraction`)."""
    import re

    from pydantic import ValidationError

    from adaptlab.errors import describe_validation_error

    try:
        return make()
    except ValidationError as e:
        message = describe_validation_error(e)
    except AdaptlabError as e:
        message = str(e)
    raise AdaptlabError(re.sub(r"^(?:option )?(\w+):", lambda m: f"--{m.group(1).replace('_', '-')}:", message))


@app.command("run")
def run_command(
    config: Annotated[Path, typer.Argument(help="YAML experiment config (see adaptlab.runs)")],
    out: Annotated[Path, typer.Option("--out", help="run folder: results.sqlite, datasets, checkpoints")],
    executor: Annotated[str | None, typer.Option(
        help="sequential (one run after another here) | processes (side by side, one worker process per core) | "
             "ray (each run a Ray task); default: the config's")] = None,
    address: Annotated[str | None, typer.Option(
        help="Ray cluster to run on (e.g. auto, ray://head:10001); none: start a local Ray")] = None,
) -> None:
    """Run every model × dataset × method × seed of a config; resumable, skips what is done."""
    from adaptlab.runs import load_config

    run_command_with(load_config(config), out, executor=executor, address=address)


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
                                          callback=lambda v: _check(v, v > 0, "> 0"))] = 7e9,
    price: Annotated[float, typer.Option(help="price per GPU-hour, dollars", min=0)] = 2.5,
    gpu_flops: Annotated[float, typer.Option(help="sustained GPU throughput, FLOP/s",
                                             callback=lambda v: _check(v, v > 0, "> 0"))] = 4e14,
    metric: Annotated[str, typer.Option(help="sum | per_token | per_char | calibrated")] = "per_char",
    queries_per_day: Annotated[float, typer.Option(help="workload assumed by 'which to use when'")] = 1000.0,
    updates_per_month: Annotated[float, typer.Option(help="workload: knowledge updates per month")] = 1.0,
    horizon_days: Annotated[float, typer.Option(help="workload: days the deployment runs")] = 30.0,
) -> None:
    """Write report.md and a self-contained report.html for a run folder."""
    from adaptlab.report.build import build_report
    from adaptlab.report.decide import Workload

    projection = _prices(params, price, gpu_flops, 80.0, None, None)
    workload = Workload(queries_per_day, updates_per_month, horizon_days)
    md, html = build_report(rundir, projection, metric, workload=workload)
    console.print(f"wrote {md} and {html}", highlight=False)


@app.command("recommend")
def recommend_command(
    rundir: Annotated[Path, typer.Argument(help="run folder with results.sqlite")],
    queries_per_day: Annotated[float, typer.Option(help="query volume")] = 1000.0,
    updates_per_month: Annotated[float, typer.Option(help="how often the knowledge changes")] = 1.0,
    horizon_days: Annotated[float, typer.Option(help="how long the deployment runs")] = 30.0,
    min_accuracy: Annotated[float | None, typer.Option(help="keep methods with at least this accuracy")] = None,
    split: Annotated[str | None, typer.Option(help="split the accuracy is read on (default: mean of splits); "
                                                   "the datasets that have it")] = None,
    dataset: Annotated[str | None, typer.Option(help="only this dataset of the folder (default: each)")] = None,
    params: Annotated[float | None, typer.Option(help="project to a model of this many parameters")] = None,
    price: Annotated[float, typer.Option(help="price per GPU-hour, dollars")] = 2.5,
    gpu_flops: Annotated[float, typer.Option(help="sustained GPU throughput, FLOP/s")] = 4e14,
    gpu_memory_gb: Annotated[float, typer.Option(help="GPU memory, GB (prices held caches)")] = 80.0,
    input_price: Annotated[float | None, typer.Option(help="API $ per million input tokens")] = None,
    cached_input_price: Annotated[float | None, typer.Option(help="API $ per million cached input tokens")] = None,
    metric: Annotated[str, typer.Option(help="sum | per_token | per_char | calibrated")] = "per_char",
    allow_chance: Annotated[bool, typer.Option(help="also recommend options not above chance")] = False,
) -> None:
    """The cheapest method for a workload (volume, update rate, horizon) that meets an accuracy, and where the
    choice flips. Controls and options at chance are shown, never recommended."""
    from adaptlab.report.decide import Workload, explain, money, recommend, scale, why_not
    from adaptlab.report.tables import human_bytes

    prices = _prices(params, price, gpu_flops, gpu_memory_gb, input_price, cached_input_price)
    workload = Workload(queries_per_day, updates_per_month, horizon_days)
    for model, name, d in recommend(rundir, workload, prices, min_accuracy=min_accuracy, split=split,
                                    metric=metric, dataset=dataset, allow_chance=allow_chance):
        table = Table(title=f"{name} · {model} — {workload.describe()}")
        for col in ("option", f"accuracy ({split or 'mean'})", "one-off", "per query", "memory held",
                    "total", "per 1k queries", "not chosen because"):
            table.add_column(col, justify="left" if col == "option" else "right", no_wrap=col == "option")
        for c in sorted(d.costed, key=lambda c: c.total(workload)):
            ok = c in d.eligible
            acc = f"{c.accuracy.mean:.3f} ± {c.accuracy.stderr:.3f}" if c.accuracy else "—"
            mark = "→ " if c is d.choice else ("  " if ok else "✗ ")
            table.add_row(mark + c.option.label, acc, money(c.one_off), money(c.per_query),
                          human_bytes(c.option.held_bytes) if c.option.held_bytes else "—", money(c.total(workload)),
                          money(c.per_1k(workload)), why_not(c, min_accuracy, allow_chance) or "")
        console.print(table)
        console.print(explain(d, model, name, split, min_accuracy).replace("**", ""), highlight=False)
        console.print(scale(prices, d.costed[0].option.n_params if d.costed else 0), highlight=False)


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
    config = _valid(lambda: OrganismConfig(**{**base.model_dump(), **overrides}))
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
                           keep_config: bool = True) -> dict[str, Any]:
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
                           keep_config=keep_config)
    finally:
        if bar.live.is_started:  # stopping a bar that never started prints an empty line
            bar.stop()


def run_command_with(cfg: Any, out: Path, executor: str | None = None, address: str | None = None) -> list[str]:
    """Run a config into OUT with progress bars, then print accuracy per split; returns the config's run ids.
    A run that fails on Ray is printed as it fails, the others go on, and the command ends with exit code 2."""
    from adaptlab.report.tables import print_summary

    counts = _execute_with_progress(cfg, out, executor=executor, address=address)
    console.print(f"{counts['ran']} runs done, {counts['skipped']} already stored → {out / 'results.sqlite'}",
                  highlight=False)
    print_summary(console, out / "results.sqlite", counts["run_ids"])
    if counts["failed"]:
        raise AdaptlabError(f"{counts['failed']} of {counts['planned']} runs failed (each reported above) and are not "
                            "stored; the same command retries them")
    return counts["run_ids"]


def main() -> None:
    # Library deprecation notices and loading bars are for library developers, not for someone running a study.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft|accelerate)(\.|$)")
    try:
        code = app(standalone_mode=False)
    except AdaptlabError as e:
        _fail(str(e))
    except typer.TyperException as e:  # a bad option value, a missing argument, an unknown command
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError":  # `adaptlab` or `adaptlab data` alone: the help
            e.show()  # type: ignore[attr-defined]
            sys.exit(2)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        _fail(f"{where}{e.format_message()} (see --help)")
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted", highlight=False)
        sys.exit(130)
    if code == 130:  # typer turns Ctrl-C into exit code 130
        err_console.print("interrupted", highlight=False)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str) -> None:
    err_console.print(f"error: {' '.join(message.split())}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(2)
