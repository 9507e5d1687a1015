"""`adaptlab data import …`: bring your own data as an adaptlab dataset folder (see `adaptlab.data.importers`).

Each command reads and checks all of its source first (bad input: one line, exit code 2, nothing written), then
writes the dataset like `data make`: files that adaptlab did not write in `--out` are never overwritten without
--force.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from adaptlab.cli.common import console, data_app
from adaptlab.errors import AdaptlabError

if TYPE_CHECKING:
    from adaptlab.data.importers import Imported

import_app = typer.Typer(help="Import your own data (text files, SQuAD JSON, tables, Hugging Face folders) as a "
                              "dataset folder.", no_args_is_help=True)
data_app.add_typer(import_app, name="import")

Out = Annotated[Path, typer.Option("--out", help="output folder (missing, empty, or an adaptlab dataset)")]
Force = Annotated[bool, typer.Option(help="overwrite dataset files adaptlab did not write")]
Name = Annotated[str | None, typer.Option(help="dataset name (default: from the source's name)")]
Split = Annotated[str, typer.Option(help="split of the questions (unless a split column or DatasetDict says)")]
Template = Annotated[str, typer.Option(help="the prompt, with {prompt} for the prompt column's text")]
PromptColumn = Annotated[str, typer.Option("--prompt-column", help="column of the question text")]
AnswerColumn = Annotated[str | None, typer.Option(
    "--answer-column", help="column of the reference answer(s) (open), or of the right choice's text")]
DocumentColumn = Annotated[str | None, typer.Option(
    "--document-column", help="column of the text the question is about (each distinct text: one document)")]
ChoicesColumn = Annotated[str | None, typer.Option(
    "--choices-column", help="column of the choices (multiple choice; a list, in CSV a JSON array)")]
AnswerIndexColumn = Annotated[str | None, typer.Option(
    "--answer-index-column", help="column of the right choice's index (0-based)")]
SplitColumn = Annotated[str | None, typer.Option("--split-column", help="column of each question's split")]
IdColumn = Annotated[str | None, typer.Option("--id-column", help="column of the question ids (default: q00000, …)")]


def _write(imported: Imported, out: Path) -> None:
    from adaptlab.data.importers import save
    from adaptlab.paths import writable_dir

    manifest = save(imported, writable_dir(out))
    splits = ", ".join(f"{s}={n}" for s, n in manifest.splits.items()) or "no questions"
    console.print(f"{manifest.name} ({manifest.generator_version}) → {out}: {manifest.documents} documents, {splits}"
                  f"; source sha256 {manifest.params['source_sha256']}")


def _write_export(folder: Path, out: Path, name: str | None) -> None:
    from adaptlab.data.hub import read_exported
    from adaptlab.data.importers import save
    from adaptlab.data.io import load_dataset
    from adaptlab.paths import writable_dir

    imported, digest = read_exported(folder)
    if name:
        imported.name = name
    manifest = save(imported, writable_dir(out))
    splits = ", ".join(f"{s}={n}" for s, n in manifest.splits.items()) or "no questions"
    same = load_dataset(out).digest() == digest
    note = "the same dataset as exported (digest matches the card)" if same else (
        "questions regrouped by split or records changed: digest differs from the card's")
    console.print(f"{manifest.name} ({manifest.generator_version}) → {out}: {manifest.documents} documents, "
                  f"{splits}; {note}", highlight=False)


def _check_out(out: Path, force: bool) -> None:
    """Refuse a folder holding files adaptlab did not write before reading any source (nothing is written)."""
    from adaptlab.data.io import check_overwrite

    if not force:
        check_overwrite(out)


@import_app.command("folder")
def import_folder(
    docs: Annotated[Path, typer.Argument(help="folder of .txt and .md files (subfolders included)")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="output folder (missing, empty, or an adaptlab dataset); not with --update-of")] = None,
    max_tokens: Annotated[int | None, typer.Option(
        help="most tokens (words) a document holds [default: 256; with --update-of: as the first version]",
        min=1)] = None,
    name: Name = None,
    update_of: Annotated[Path | None, typer.Option(
        "--update-of", help="the dataset this folder is a second version of: written as its update/")] = None,
    questions: Annotated[Path | None, typer.Option(
        "--questions", help="with --update-of: a JSONL file of the update's questions (any split names)")] = None,
    force: Force = False,
) -> None:
    """Text files as documents, cut at blank lines into pieces of at most --max-tokens words; no questions. With
    --update-of DATASET: a second version of the folder DATASET was imported from, written as DATASET/update/
    (unchanged documents keep their ids), with the questions of --questions or none."""
    from adaptlab.data.importers import import_folder as read

    if update_of is None:
        if out is None:
            raise AdaptlabError("give --out (the dataset folder to write), or --update-of (a dataset to update)")
        if questions is not None:
            raise AdaptlabError("--questions goes with --update-of (an import of a folder has no questions)")
        _check_out(out, force)
        _write(read(docs, max_tokens or 256, name), out)
        return
    if out is not None or name is not None:
        raise AdaptlabError("--update-of writes DATASET/update/ under the dataset's own name: leave out --out and "
                            "--name")
    _write_update(docs, update_of, questions, max_tokens, force)


def _write_update(docs: Path, base: Path, questions: Path | None, max_tokens: int | None, force: bool) -> None:
    from adaptlab.data.importers import import_folder_update, save
    from adaptlab.data.io import UPDATE, load_dataset, register_update

    out = base / UPDATE
    _check_out(out, force)
    imported, before = import_folder_update(docs, base, questions, max_tokens)
    out.mkdir(exist_ok=True)
    manifest = save(imported, out, update_of=before.digest())
    register_update(base)
    after = load_dataset(base).update  # what was written loads and validates with its dataset
    assert after is not None
    splits = ", ".join(f"{s}={n}" for s, n in manifest.splits.items()) or "no questions"
    console.print(f"{manifest.name} update → {out}: {manifest.documents} documents "
                  f"({len(after.changed_documents(before))} new or changed), {splits}", highlight=False)


@import_app.command("squad")
def import_squad(
    file: Annotated[Path, typer.Argument(help="SQuAD v1.1 or v2.0 JSON file")],
    out: Out,
    split: Split = "test",
    template: Annotated[str, typer.Option(help="the prompt, with {question} for the question")] = (
        "Question: {question}\nAnswer:"),
    name: Name = None,
    force: Force = False,
) -> None:
    """SQuAD JSON: contexts as documents, answerable questions as open questions; unanswerable ones (v2) kept
    apart in unanswerable.jsonl."""
    from adaptlab.data.importers import import_squad as read

    _check_out(out, force)
    _write(read(file, split, name, template), out)


@import_app.command("table")
def import_table(
    file: Annotated[Path, typer.Argument(help="a .csv (with a header row), .jsonl or .parquet file")],
    out: Out,
    prompt_column: PromptColumn,
    answer_column: AnswerColumn = None,
    document_column: DocumentColumn = None,
    choices_column: ChoicesColumn = None,
    answer_index_column: AnswerIndexColumn = None,
    split_column: SplitColumn = None,
    id_column: IdColumn = None,
    split: Split = "test",
    template: Template = "{prompt}",
    name: Name = None,
    force: Force = False,
) -> None:
    """A table, one question a row: open questions (--answer-column) or multiple choice (--choices-column)."""
    from adaptlab.data.tables import Columns
    from adaptlab.data.tables import import_table as read

    columns = Columns(prompt_column, answer_column, document_column, choices_column, answer_index_column,
                      split_column, id_column)
    _check_out(out, force)
    _write(read(file, columns, split, name, template), out)


@import_app.command("hf")
def import_hf(
    folder: Annotated[Path, typer.Argument(help="a Hugging Face datasets folder written by save_to_disk, or one "
                                                "written by `adaptlab data export-hf`")],
    out: Out,
    prompt_column: Annotated[str | None, typer.Option(
        "--prompt-column", help="column of the question text (not for a folder written by export-hf)")] = None,
    answer_column: AnswerColumn = None,
    document_column: DocumentColumn = None,
    choices_column: ChoicesColumn = None,
    answer_index_column: AnswerIndexColumn = None,
    split_column: SplitColumn = None,
    id_column: IdColumn = None,
    split: Split = "test",
    template: Template = "{prompt}",
    name: Name = None,
    force: Force = False,
) -> None:
    """A Hugging Face dataset (Dataset or DatasetDict) saved with save_to_disk, one question a row; or a folder
    written by `adaptlab data export-hf`, read back as the dataset it was (no column options)."""
    from adaptlab.data.hub import is_export
    from adaptlab.data.tables import Columns
    from adaptlab.data.tables import import_hf as read

    if is_export(folder):
        given = [flag for flag, value in (("--prompt-column", prompt_column), ("--answer-column", answer_column),
                                          ("--document-column", document_column), ("--choices-column", choices_column),
                                          ("--answer-index-column", answer_index_column),
                                          ("--split-column", split_column), ("--id-column", id_column))
                 if value is not None]
        if given:
            raise AdaptlabError(f"{folder}: written by `adaptlab data export-hf`, read as it is: drop {given[0]}")
        _check_out(out, force)
        _write_export(folder, out, name)
        return
    if prompt_column is None:
        raise AdaptlabError(f"{folder}: give --prompt-column (the column of the question text)")
    columns = Columns(prompt_column, answer_column, document_column, choices_column, answer_index_column,
                      split_column, id_column)
    _check_out(out, force)
    _write(read(folder, columns, split, name, template), out)
