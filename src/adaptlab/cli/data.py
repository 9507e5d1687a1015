"""`adaptlab data …`: list, make, synthesize, show, validate and export datasets (`import`: see
`adaptlab.cli.imports`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from adaptlab.cli.common import MODEL_HELP, T, console, data_app, progress
from adaptlab.errors import AdaptlabError

if TYPE_CHECKING:
    from adaptlab.data.records import Dataset


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
    from adaptlab.data.io import check_overwrite, load_dataset
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
    if "update/manifest.json" in manifest.files:
        console.print(_update_line(load_dataset(out)), highlight=False)


def _update_line(ds: Dataset) -> str:
    """One line on a dataset's update: its documents, how many are new or changed, its questions per split."""
    assert ds.update is not None
    after = ds.update
    splits = ", ".join(f"{s}={len(after.split(s))}" for s in after.splits) or "no questions"
    return (f"update: {len(after.documents)} documents ({len(after.changed_documents(ds))} new or changed), "
            f"{splits}")


@data_app.command("synthesize")
def data_synthesize(
    dataset_dir: Annotated[Path, typer.Argument(help="dataset folder whose documents the questions are about")],
    model: Annotated[str, typer.Option(help=f"the writer: {MODEL_HELP}, or openai:URL#name")],
    out: Annotated[Path, typer.Option(help="output folder (missing, empty, or an adaptlab dataset)")],
    per_document: Annotated[int, typer.Option(help="question-answer pairs asked for per document", min=1)] = 3,
    choices: Annotated[int | None, typer.Option(help="also multiple choice, K choices", min=2, max=26)] = None,
    seed: Annotated[int, typer.Option(help="seed (generations, distractors and their order)", min=0)] = 0,
    max_new_tokens: Annotated[int | None, typer.Option(help="writer tokens per document (64 a pair)", min=1)] = None,
    pairs: Annotated[int, typer.Option(help="also questions that need two documents, about at most N pairs of "
                                       "documents that share a name or number (0: none)", min=0)] = 0,
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
                                                  pairs=pairs, force=force)
    splits = ", ".join(f"{s}={n}" for s, n in manifest.splits.items())
    console.print(f"{summary(result.counts)}\n{manifest.name} → {out}: {manifest.documents} documents, {splits}",
                  highlight=False)


@data_app.command("show")
def data_show(
    folder: Annotated[Path, typer.Argument(help="dataset folder")],
    examples: Annotated[int, typer.Option(help="examples to show per split", min=0)] = 2,
) -> None:
    """Counts per split, chance levels and a few examples; of an update too (and its new or changed documents)."""
    from adaptlab.data.io import load_dataset

    ds = load_dataset(folder)
    console.print(f"[bold]{ds.name}[/] — {folder}: {len(ds.documents)} documents, {len(ds.oracle)} oracle")
    if ds.manifest and ds.manifest.description:
        console.print(ds.manifest.description.split("\n")[0])
    table = Table("split", "questions", "choices", "chance")
    if not ds.questions:
        console.print("no questions (documents only)")
    for split in ds.splits:
        qs = ds.split(split)
        shapes = [str(n) for n in sorted({len(q.choices) for q in qs if not q.is_open})]
        shapes += ["open"] if any(q.is_open for q in qs) else []
        table.add_row(split, str(len(qs)), "/".join(shapes), f"{ds.chance(split):.3f}")
    if ds.questions:
        console.print(table)
    for doc in ds.documents[:examples]:
        console.print(f"[dim]document {doc.id}:[/] {doc.text}", markup=True, highlight=False)
    for split in ds.splits:
        for q in ds.split(split)[:examples]:
            console.print(f"[dim]{split} {q.id}:[/] {q.prompt!r}", highlight=False)
            if q.is_open:
                answers = " | ".join(repr(a) for a in q.references)
                console.print(f"    answers: {answers}", highlight=False, markup=False)
            for i, choice in enumerate(q.choices):
                mark = "✓" if i == q.answer else " "
                console.print(f"    {mark} {choice!r}", highlight=False, markup=False)
    if ds.update is not None:
        _show_update(ds, examples)


def _show_update(ds: Dataset, examples: int) -> None:
    """The update: counts per split, chance levels, the changed documents and a few examples."""
    after = ds.update
    assert after is not None
    changed = after.changed_documents(ds)
    console.print(_update_line(ds), highlight=False)
    if after.questions:
        table = Table("update split", "questions", "chance")
        for split in after.splits:
            table.add_row(split, str(len(after.split(split))), f"{after.chance(split):.3f}")
        console.print(table)
    for doc in changed[:examples]:
        console.print(f"[dim]new or changed document {doc.id}:[/] {doc.text}", markup=True, highlight=False)
    for split in after.splits:
        for q in after.split(split)[:examples]:
            console.print(f"[dim]update {split} {q.id}:[/] {q.prompt!r}", highlight=False)
            for i, choice in enumerate(q.choices):
                console.print(f"    {'✓' if i == q.answer else ' '} {choice!r}", highlight=False, markup=False)
            if q.is_open:
                console.print(f"    answers: {' | '.join(repr(a) for a in q.references)}", highlight=False,
                              markup=False)


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
    force: Annotated[bool, typer.Option(help="overwrite task files of the same names in --out")] = False,
) -> None:
    """Export a dataset as lm-evaluation-harness tasks (one per split): multiple-choice questions as
    multiple_choice tasks, open questions as generate_until tasks scored by exact match. A dataset's update is
    exported as tasks of its own (adaptlab_NAME_update_SPLIT; with --with-context, after the updated corpus)."""
    from adaptlab.context import build_context
    from adaptlab.data.export import export_lm_eval
    from adaptlab.data.io import load_dataset
    from adaptlab.models.prompts import SEPARATOR

    ds = load_dataset(folder)
    if not ds.questions and not (ds.update is not None and ds.update.questions):
        raise AdaptlabError(f"{folder}: no questions to export (the dataset holds documents only)")
    prefix = build_context(ds.documents) + SEPARATOR if with_context else ""
    update_prefix = build_context(ds.update.documents) + SEPARATOR if with_context and ds.update is not None else ""
    names = export_lm_eval(ds, out, prefix, force=force, update_prefix=update_prefix)
    console.print(f"wrote {len(names)} tasks to {out}: {', '.join(names)}", highlight=False)
    console.print(f"run: lm_eval --model hf --model_args pretrained=MODEL_DIR --include_path {out} --tasks {names[0]}",
                  highlight=False)


@data_app.command("export-hf")
def data_export_hf(
    folder: Annotated[Path, typer.Argument(help="dataset folder")],
    out: Annotated[Path, typer.Option("--out", help="folder for the Hugging Face dataset (Parquet + README.md)")],
    force: Annotated[bool, typer.Option(help="replace an earlier export's card and Parquet folders in --out")
                     ] = False,
) -> None:
    """Export a dataset for the Hugging Face Hub and `datasets.load_dataset`: Parquet files with typed features,
    one configuration per record type (questions, with the splits; documents; oracle), and a dataset card."""
    from adaptlab.data.hub import export_hf
    from adaptlab.data.io import load_dataset

    ds = load_dataset(folder)
    parts = export_hf(ds, out, force=force)
    splits = ", ".join(f"{p.split}={len(p.records)}" for p in parts if p.config == "questions") or "no questions"
    console.print(f"{ds.name} → {out}: {len(ds.documents)} documents, {len(ds.oracle)} oracle, {splits}",
                  highlight=False)
    console.print(f'load: datasets.load_dataset("{out}", "questions")', highlight=False)
