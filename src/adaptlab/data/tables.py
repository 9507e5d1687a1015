"""Bring your own data from a table: CSV, JSONL or Parquet (by extension), or a Hugging Face `datasets` folder
written by `save_to_disk`, as an adaptlab dataset (see `adaptlab.data.importers` for how it is written).

One row is one question. Which columns hold what is given by `Columns`:
- `prompt` (required): the question, filled into `template` as `{prompt}` (default: the text as it is);
- `answer`: the reference answer(s) of an open question: a string, a list of strings, a mapping with a `text` list
  (as Hugging Face's SQuAD stores answers), or in a CSV cell a JSON array of strings;
- `choices` + `answer_index`: a multiple-choice question (choices: a list, in a CSV cell a JSON array); without
  `answer_index` the `answer` text must be one of the choices;
- `document`: the text the question is about: each distinct text becomes one document;
- `split`: the row's split (else the `split` given; a Hugging Face DatasetDict's split names are used);
- `id`: the question id (else `q00000`, `q00001`, … in row order).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adaptlab.data.importers import (
    Imported,
    check_split,
    dataset_name,
    distinct,
    prompt_from,
    read_text,
    sha256_file,
    sha256_tree,
)
from adaptlab.data.io import json_objects
from adaptlab.data.records import SPLIT_NAME, Document, Generated, Question
from adaptlab.errors import AdaptlabError, describe_validation_error

TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")


@dataclass(frozen=True)
class Columns:
    """Which column holds what (None: the table has no such column)."""

    prompt: str
    answer: str | None = None
    document: str | None = None
    choices: str | None = None
    answer_index: str | None = None
    split: str | None = None
    id: str | None = None

    def check(self) -> None:
        if self.answer is None and self.choices is None:
            raise AdaptlabError("give --answer-column (open questions) or --choices-column (multiple choice)")
        if self.choices is not None and self.answer is None and self.answer_index is None:
            raise AdaptlabError("--choices-column needs --answer-index-column (or --answer-column with the right "
                                "choice's text)")
        if self.answer_index is not None and self.choices is None:
            raise AdaptlabError("--answer-index-column needs --choices-column")

    def named(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


# A row and where it is, for error messages.
Row = tuple[str, dict[str, Any]]


def read_table(path: Path) -> Iterator[Row]:
    """The rows of a CSV (header row), JSONL (one object a line) or Parquet file."""
    if not path.exists():
        raise AdaptlabError(f"{path}: file not found")
    if not path.is_file():
        raise AdaptlabError(f"{path}: not a file")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise AdaptlabError(f"{path}: unknown extension {path.suffix or '(none)'!r}; "
                            f"expected {', '.join(TABLE_SUFFIXES)}")
    if suffix == ".parquet":
        yield from _parquet_rows(path)
        return
    if suffix == ".jsonl":
        for number, obj in json_objects(path):
            yield f"{path}:{number}", obj
        return
    text = read_text(path)
    if not text.strip():
        raise AdaptlabError(f"{path}: file is empty")
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            for row in reader:
                if None in row:
                    raise AdaptlabError(f"{path}:{reader.line_num}: more cells than the header has columns")
                yield f"{path}:{reader.line_num}", dict(row)
        except csv.Error as e:
            raise AdaptlabError(f"{path}:{reader.line_num}: bad CSV ({e})") from None


def _parquet_rows(path: Path) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise AdaptlabError(f"{path}: not a readable Parquet file ({' '.join(str(e).split())})") from None
    for i, row in enumerate(table.to_pylist()):
        yield f"{path}: row {i}", row


def read_hf_folder(folder: Path) -> Iterator[tuple[str | None, Row]]:
    """The rows of a Hugging Face `datasets` folder written by `save_to_disk`, each with its split name (None for
    a single Dataset)."""
    if not folder.is_dir():
        raise AdaptlabError(f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder")
    try:
        import datasets
    except ImportError:
        raise AdaptlabError("importing a Hugging Face folder needs the `datasets` package") from None
    try:
        loaded = datasets.load_from_disk(str(folder))
    except (FileNotFoundError, ValueError, OSError, KeyError) as e:
        raise AdaptlabError(f"{folder}: not a folder saved by datasets' save_to_disk "
                            f"({' '.join(str(e).split())[:200]})") from None
    parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for split, ds in parts:
        for i, row in enumerate(ds.to_list()):
            yield split, (f"{folder}: {split + ' ' if split else ''}row {i}", row)


def _cell(where: str, row: dict[str, Any], column: str) -> Any:
    if column not in row:
        raise AdaptlabError(f"{where}: no column {column!r} (columns: {', '.join(map(str, row))})")
    return row[column]


def _text(where: str, column: str, value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        raise AdaptlabError(f"{where}: column {column!r} must be text, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise AdaptlabError(f"{where}: column {column!r} is empty")
    return text


def _texts(where: str, column: str, value: Any, csv_cell: bool) -> list[str]:
    """A list of texts from a list, a mapping with a `text` list, a JSON array in a CSV cell, or one text."""
    if isinstance(value, dict) and "text" in value:
        value = value["text"]
    if isinstance(value, str) and csv_cell and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise AdaptlabError(f"{where}: column {column!r} is not a JSON array ({e.msg})") from None
        except RecursionError:
            raise AdaptlabError(f"{where}: column {column!r} is nested too deeply") from None
    if isinstance(value, list):
        texts = distinct([_text(where, column, v) for v in value])
        if not texts:
            raise AdaptlabError(f"{where}: column {column!r} is an empty list")
        return texts
    return [_text(where, column, value)]


def _index(where: str, column: str, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise AdaptlabError(f"{where}: column {column!r} must be a whole number, got {value!r}")
    return value


def _split_name(where: str, value: Any) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", str(value).strip().lower()).strip("_")
    if not SPLIT_NAME.match(name):
        raise AdaptlabError(f"{where}: split {value!r} cannot be a split name (letters, digits, _; a letter first)")
    return name


def rows_to_dataset(rows: Iterator[tuple[str | None, Row]], columns: Columns, split: str, template: str,
                    source: Path, csv_cells: bool = False) -> Generated:
    """Questions (and documents) from table rows; the first bad row is one line naming it. In a CSV file
    (`csv_cells`) a cell holding a JSON array is a list."""
    documents: list[Document] = []
    doc_of_text: dict[str, str] = {}
    questions: list[Question] = []
    first_row: dict[str, str] = {}
    for row_split, (where, row) in rows:
        prompt = prompt_from(template, where, prompt=_text(where, columns.prompt, _cell(where, row, columns.prompt)))
        qid = _text(where, columns.id, _cell(where, row, columns.id)) if columns.id else f"q{len(questions):05d}"
        if qid in first_row:
            raise AdaptlabError(f"{where}: duplicate id {qid!r} (first at {first_row[qid]})")
        first_row[qid] = where
        if columns.split:
            q_split = _split_name(where, _cell(where, row, columns.split))
        else:
            q_split = _split_name(where, row_split) if row_split else split
        fields: dict[str, Any] = {"id": qid, "prompt": prompt, "split": q_split}
        if columns.choices:
            choices = [str(c).strip() for c in _texts(where, columns.choices, _cell(where, row, columns.choices),
                                                      csv_cells)]
            if columns.answer_index:
                answer = _index(where, columns.answer_index, _cell(where, row, columns.answer_index))
            else:
                assert columns.answer is not None
                right = _text(where, columns.answer, _cell(where, row, columns.answer))
                if right not in choices:
                    raise AdaptlabError(f"{where}: answer {right!r} is not one of the choices {choices}")
                answer = choices.index(right)
            fields.update(choices=choices, answer=answer)
        else:
            assert columns.answer is not None
            fields["answers"] = _texts(where, columns.answer, _cell(where, row, columns.answer), csv_cells)
        if columns.document:
            value = _cell(where, row, columns.document)
            text = str(value).strip() if value is not None else ""
            if text:
                doc_id = doc_of_text.get(text)
                if doc_id is None:
                    doc_id = doc_of_text[text] = f"doc-{len(documents):05d}"
                    documents.append(Document(id=doc_id, text=text, source_fact_ids=[doc_id]))
                fields["source_fact_ids"] = [doc_id]
        try:
            questions.append(Question(**fields))
        except ValidationError as e:
            raise AdaptlabError(f"{where}: {describe_validation_error(e)}") from None
    if not questions:
        raise AdaptlabError(f"{source}: no rows")
    return Generated(documents=documents, questions=questions)


def import_table(path: Path, columns: Columns, split: str = "test", name: str | None = None,
                 template: str = "{prompt}") -> Imported:
    """A CSV, JSONL or Parquet file, one question a row."""
    columns.check()
    check_split(split)
    generated = rows_to_dataset(((None, row) for row in read_table(path)), columns, split, template, path,
                                csv_cells=path.suffix.lower() == ".csv")
    generated.params = {"source": path.name, "source_sha256": sha256_file(path), "template": template,
                        **{f"{k}_column": v for k, v in columns.named().items()}}
    description = f"Questions imported from the table {path.name}, one a row."
    return Imported(name or dataset_name(path), f"import-table-{path.suffix.lower().lstrip('.')}-1", description,
                    generated)


def import_hf(folder: Path, columns: Columns, split: str = "test", name: str | None = None,
              template: str = "{prompt}") -> Imported:
    """A Hugging Face `datasets` folder written by `save_to_disk` (a Dataset or a DatasetDict), one question a row."""
    columns.check()
    check_split(split)
    generated = rows_to_dataset(read_hf_folder(folder), columns, split, template, folder)
    files = [p for p in folder.rglob("*") if p.is_file()]
    generated.params = {"source": folder.resolve().name, "source_sha256": sha256_tree(folder, files),
                        "template": template, **{f"{k}_column": v for k, v in columns.named().items()}}
    description = f"Questions imported from the Hugging Face dataset folder {folder.resolve().name}, one a row."
    return Imported(name or dataset_name(folder.resolve()), "import-hf-1", description, generated)
