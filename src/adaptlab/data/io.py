"""Dataset folders on disk: `documents.jsonl`, `questions.jsonl`, optional `oracle.jsonl`, and `manifest.json`.
An imported dataset may also keep records it could not turn into questions in a file its manifest lists (e.g.
`unanswerable.jsonl`: SQuAD v2's unanswerable questions); loading checks its checksum and otherwise ignores it.
A dataset whose manifest says it has no questions (documents to synthesize questions from) or no documents (questions
about knowledge the model already has) may have that file empty.

Loading validates everything and reports the first problem as one line naming the file, the line and the problem
(an `AdaptlabError`). Writing is deterministic: the same records give byte-identical files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from adaptlab.data.records import Dataset, Document, Generated, Manifest, Question
from adaptlab.errors import AdaptlabError, describe_validation_error

DOCUMENTS = "documents.jsonl"
QUESTIONS = "questions.jsonl"
ORACLE = "oracle.jsonl"
UNANSWERABLE = "unanswerable.jsonl"
MANIFEST = "manifest.json"
UPDATE = "update"  # the subfolder holding the dataset after an update (a complete dataset folder of its own)
WRITING = ".adaptlab-writing"  # present while a dataset is being written (see `write_dataset`)
DATASET_FILES = (DOCUMENTS, QUESTIONS, ORACLE, UNANSWERABLE, MANIFEST)

R = TypeVar("R", Document, Question)  # the records a JSONL file of a dataset holds


def _dump_line(record: BaseModel) -> str:
    data = record.model_dump(exclude_defaults=True)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: Path, records: list[BaseModel]) -> str:
    """Write records one per line; return the file's sha256."""
    text = "".join(_dump_line(r) + "\n" for r in records)
    data = text.encode("utf-8")
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def jsonl_lines(path: Path, allow_empty: bool = False) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a UTF-8 text file with their numbers; unreadable, non-UTF-8 or (unless
    `allow_empty`) empty files are a one-line error naming the file (and line)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AdaptlabError(f"{path}: file not found") from None
    except OSError as e:
        raise AdaptlabError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (as some editors write) is not part of line 1
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise AdaptlabError(f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x})") from None
    if not text.strip() and not allow_empty:
        raise AdaptlabError(f"{path}: file is empty")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def json_objects(path: Path, allow_empty: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSONL file; a line that is not a JSON object (bad JSON,
    nested too deeply, another type) is a one-line error naming the file and line."""
    for number, line in jsonl_lines(path, allow_empty):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise AdaptlabError(f"{path}:{number}: bad JSON ({e.msg} at column {e.colno})") from None
        except RecursionError:
            raise AdaptlabError(f"{path}:{number}: bad JSON (nested too deeply)") from None
        if not isinstance(obj, dict):
            raise AdaptlabError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
        yield number, obj


def read_jsonl(path: Path, model: type[R], allow_empty: bool = False) -> list[R]:
    """Read and validate a JSONL file of `model` records; ids must be unique within the file."""
    records: list[R] = []
    seen: dict[str, int] = {}
    for number, obj in json_objects(path, allow_empty):
        try:
            record = model.model_validate(obj, strict=True)
        except ValidationError as e:
            raise AdaptlabError(f"{path}:{number}: {describe_validation_error(e)}") from None
        rid = record.id
        if rid in seen:
            raise AdaptlabError(f"{path}:{number}: duplicate id {rid!r} (first on line {seen[rid]})")
        seen[rid] = number
        records.append(record)
    return records


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_manifest(
    name: str, version: str, seed: int | None, generated: Generated, files: dict[str, str], description: str = "",
    update_of: str | None = None,
) -> Manifest:
    counts: dict[str, int] = {}
    chance: dict[str, float] = {}
    for q in generated.questions:
        counts[q.split] = counts.get(q.split, 0) + 1
        chance[q.split] = chance.get(q.split, 0.0) + q.chance
    return Manifest(
        name=name,
        generator_version=version,
        seed=seed,
        params=generated.params,
        description=description,
        documents=len(generated.documents),
        oracle=len(generated.oracle),
        splits=counts,
        chance={s: round(chance[s] / counts[s], 6) for s in counts},
        files=files,
        update_of=update_of,
    )


def _manifest_json(manifest: Manifest) -> str:
    # `update_of` only where set: manifests of datasets without an update stay byte-identical to older ones.
    exclude = {"update_of"} if manifest.update_of is None else None
    return json.dumps(manifest.model_dump(exclude=exclude), indent=2, ensure_ascii=False) + "\n"


def write_dataset(
    out: Path,
    name: str,
    version: str,
    seed: int | None,
    generated: Generated,
    description: str = "",
    extra: dict[str, list[dict]] | None = None,
    update_of: str | None = None,
) -> Manifest:
    """Validate ids and write a dataset folder; returns its manifest. `extra` (file name -> JSON records) are further
    JSONL files the manifest lists with their checksums. A generated update is written as the complete dataset
    folder `update/` (its manifest names the digest of this dataset), and this manifest lists the update's manifest
    with its checksum, so the two are loaded, checked and replaced together."""
    for kind, records in (("document", generated.documents), ("question", generated.questions)):
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise AdaptlabError(f"{name}: duplicate {kind} id {dup!r} from the generator")
    out.mkdir(parents=True, exist_ok=True)
    # While this mark is there the folder is adaptlab's own, half written: a rerun after `kill -9` may overwrite it.
    (out / WRITING).write_text("adaptlab is writing this dataset; the manifest is written last\n")
    (out / MANIFEST).unlink(missing_ok=True)  # an earlier dataset's manifest must not vouch for new files
    files = {
        DOCUMENTS: write_jsonl(out / DOCUMENTS, generated.documents),
        QUESTIONS: write_jsonl(out / QUESTIONS, generated.questions),
    }
    if generated.oracle:
        files[ORACLE] = write_jsonl(out / ORACLE, generated.oracle)
    elif (out / ORACLE).exists():
        (out / ORACLE).unlink()
    if generated.update is not None:
        base = Dataset(name, generated.documents, generated.questions, generated.oracle)
        write_dataset(out / UPDATE, name, version, seed, generated.update, description, update_of=base.digest())
        files[f"{UPDATE}/{MANIFEST}"] = _sha256(out / UPDATE / MANIFEST)
    elif (out / UPDATE / MANIFEST).is_file():  # an earlier draw's update (check_overwrite vouched for it)
        for fname in DATASET_FILES:
            (out / UPDATE / fname).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # kept if it holds anything else
            (out / UPDATE).rmdir()
    for fname, rows in (extra or {}).items():
        if fname in files or fname == MANIFEST:
            raise AdaptlabError(f"{name}: extra file {fname!r} would replace a dataset file")
        data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows).encode()
        (out / fname).write_bytes(data)
        files[fname] = hashlib.sha256(data).hexdigest()
    manifest = build_manifest(name, version, seed, generated, files, description, update_of)
    (out / MANIFEST).write_text(_manifest_json(manifest))
    (out / WRITING).unlink()
    return manifest


def register_update(folder: Path) -> None:
    """List `update/manifest.json` with its checksum in the manifest of the dataset `folder` (after an update was
    written beside a dataset that already existed), so the two are loaded and checked together. A folder without a
    manifest (a user's own data) has nothing to list."""
    if not (folder / MANIFEST).is_file():
        return
    manifest = read_manifest(folder / MANIFEST)
    manifest.files[f"{UPDATE}/{MANIFEST}"] = _sha256(folder / UPDATE / MANIFEST)
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(_manifest_json(manifest))
    tmp.replace(folder / MANIFEST)


def check_overwrite(out: Path) -> None:
    """Refuse to write a dataset over files adaptlab did not write: `out` may be missing, empty, or a dataset
    folder whose manifest lists every dataset file present with its unchanged sha256 (other files are never
    touched). Anything else — hand-written data, a file edited since generation — is a one-line error."""
    if not out.exists():
        return
    if not out.is_dir():
        raise AdaptlabError(f"{out}: output folder is a file, not a folder")
    present = [f for f in DATASET_FILES if (out / f).exists()]
    if not present or (out / WRITING).is_file():  # nothing there, or a dataset adaptlab was stopped writing
        return
    advice = "choose another --out, or add --force to overwrite"
    try:
        manifest = read_manifest(out / MANIFEST) if (out / MANIFEST).is_file() else None
    except AdaptlabError:
        manifest = None
    if manifest is None:
        raise AdaptlabError(f"{out}: holds {', '.join(present)} not written by adaptlab (no valid {MANIFEST}); "
                            f"{advice}")
    for fname in present:
        if fname == MANIFEST:
            continue
        path = out / fname
        if fname not in manifest.files or not path.is_file() or _sha256(path) != manifest.files[fname]:
            raise AdaptlabError(f"{path}: not the file adaptlab wrote (edited, or not in {MANIFEST}); {advice}")
    if (out / UPDATE).is_dir():
        check_overwrite(out / UPDATE)


def read_manifest(path: Path) -> Manifest:
    if not path.is_file():
        raise AdaptlabError(f"{path}: not a file")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise AdaptlabError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise AdaptlabError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise AdaptlabError(f"{path}:{e.lineno}: bad JSON ({e.msg})") from None
    except RecursionError:
        raise AdaptlabError(f"{path}: bad JSON (nested too deeply)") from None
    if not isinstance(obj, dict):
        raise AdaptlabError(f"{path}: expected a JSON object")
    try:
        return Manifest.model_validate(obj)
    except ValidationError as e:
        raise AdaptlabError(f"{path}: {describe_validation_error(e)}") from None


def load_dataset(folder: Path | str) -> Dataset:
    """Load and validate a dataset folder. A folder without manifest.json (a user's own data) is accepted."""
    folder = Path(folder)
    if not folder.exists():
        raise AdaptlabError(f"{folder}: no such dataset folder")
    if not folder.is_dir():
        raise AdaptlabError(f"{folder}: not a folder (a dataset is a folder with {DOCUMENTS} and {QUESTIONS})")
    manifest = read_manifest(folder / MANIFEST) if (folder / MANIFEST).exists() else None
    for required in (DOCUMENTS, QUESTIONS):
        if not (folder / required).exists():
            raise AdaptlabError(f"{folder / required}: file not found")
    if manifest is not None:
        for fname in manifest.files:
            if not (folder / fname).exists():
                raise AdaptlabError(f"{folder / fname}: listed in {MANIFEST} but missing")
    documents = read_jsonl(folder / DOCUMENTS, Document, allow_empty=manifest is not None and manifest.documents == 0)
    questions = read_jsonl(folder / QUESTIONS, Question, allow_empty=manifest is not None and not manifest.splits)
    oracle = read_jsonl(folder / ORACLE, Document) if (folder / ORACLE).exists() else []
    if manifest is not None:
        _check_against_manifest(folder, manifest, documents, questions)
    name = manifest.name if manifest else folder.name
    dataset = Dataset(name=name, documents=documents, questions=questions, oracle=oracle, manifest=manifest)
    if (folder / UPDATE).is_dir():
        dataset.update = _load_update(folder / UPDATE, dataset)
    return dataset


def _load_update(folder: Path, before: Dataset) -> Dataset:
    """The dataset after an update, checked against the one it updates (when its manifest names it)."""
    after = load_dataset(folder)
    if after.update is not None:
        raise AdaptlabError(f"{folder / UPDATE}: an update of an update (give each version its own dataset)")
    if after.manifest is not None and after.manifest.update_of not in (None, before.digest()):
        raise AdaptlabError(f"{folder / MANIFEST}: update_of names another dataset than {folder.parent} "
                            "(the update was drawn for other documents or questions)")
    after.name = before.name
    return after


def _check_against_manifest(
    folder: Path, manifest: Manifest, documents: list[Document], questions: list[Question]
) -> None:
    for fname, digest in manifest.files.items():
        if _sha256(folder / fname) != digest:
            raise AdaptlabError(f"{folder / fname}: sha256 differs from {MANIFEST} (edited after generation?)")
    qpath = folder / QUESTIONS
    for number, q in enumerate(questions, start=1):
        if q.split not in manifest.splits:
            known = ", ".join(sorted(manifest.splits))
            line = _line_of(qpath, number)
            raise AdaptlabError(f"{qpath}:{line}: unknown split {q.split!r} (manifest has: {known})")
    counts: dict[str, int] = {}
    for q in questions:
        counts[q.split] = counts.get(q.split, 0) + 1
    if counts != manifest.splits:
        raise AdaptlabError(f"{qpath}: counts per split {counts} differ from {MANIFEST} {manifest.splits}")
    if len(documents) != manifest.documents:
        raise AdaptlabError(
            f"{folder / DOCUMENTS}: {len(documents)} documents but {MANIFEST} says {manifest.documents}"
        )


def _line_of(path: Path, record_number: int) -> int:
    """The file line of the n-th non-blank record."""
    for i, (line_number, _) in enumerate(jsonl_lines(path, allow_empty=True), start=1):
        if i == record_number:
            return line_number
    return record_number


def validate_path(path: Path | str) -> str:
    """Validate a dataset folder or one JSONL file; return a one-line summary."""
    path = Path(path)
    if path.is_dir():
        ds = load_dataset(path)
        line = f"{path}: ok — {_summary(ds)}"
        if ds.update is not None:
            line += (f"; update: {_summary(ds.update)}, {len(ds.update.changed_documents(ds))} documents new or "
                     "changed")
        return line
    if not path.exists():
        raise AdaptlabError(f"{path}: no such file or folder")
    if _looks_like_questions(path):
        return f"{path}: ok — {len(read_jsonl(path, Question))} questions"
    return f"{path}: ok — {len(read_jsonl(path, Document))} documents"


def _summary(ds: Dataset) -> str:
    splits = ", ".join(f"{s}={len(ds.split(s))}{_open_note(ds.split(s))}" for s in ds.splits)
    return f"{len(ds.documents)} documents, {len(ds.questions)} questions" + (f" ({splits})" if splits else "")


def _open_note(questions: list[Question]) -> str:
    """' open' for a split of open questions, ' (N open)' for a split that mixes both shapes."""
    n_open = sum(q.is_open for q in questions)
    if n_open == 0:
        return ""
    return " open" if n_open == len(questions) else f" ({n_open} open)"


def _looks_like_questions(path: Path) -> bool:
    if "question" in path.name:
        return True
    if "document" in path.name or "oracle" in path.name:
        return False
    for _, line in jsonl_lines(path):
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            return False
        return isinstance(obj, dict) and any(key in obj for key in ("choices", "answer", "answers", "prompt"))
    return False
