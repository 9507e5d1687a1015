"""Bring your own data: a folder of text files or a SQuAD JSON file as an ordinary adaptlab dataset folder.

Every import reads and validates all of its source before anything is written (bad input is one `AdaptlabError`
line), then writes the dataset through `write_dataset` into a temporary folder inside `out` and moves the files into
place, the manifest last. The manifest names the source by content: `params.source` (the file or folder name) and
`params.source_sha256` (sha256 of the file; of a folder, sha256 over its files' relative paths and sha256s, sorted).

- `import_folder`: `.txt` and `.md` files, cut into documents at blank lines (paragraphs), each document at most
  `max_tokens` tokens (a paragraph longer than that is cut between words). Tokens are counted as runs of
  non-whitespace characters (the manifest says so in `params.token_count`). Each document keeps its file
  (`Document.source`) and the character span of the file's text it is (`Document.offsets`); the dataset has no
  questions (`data synthesize` can add some).
- `import_squad`: SQuAD v1.1 or v2.0 JSON. Contexts become documents, answerable questions open questions (the
  distinct answer texts are the references) in one split; unanswerable ones (v2 `is_impossible`, or no answer text)
  cannot be graded, so they are kept apart in `unanswerable.jsonl` (listed in the manifest, not loaded as questions).
- `import_folder_update`: a second version of an imported folder, written as the first version's `update/` (see
  `adaptlab.data.records`: a dataset that changes). Its files are cut as the first version's were; a document whose
  file and text are unchanged keeps its id, any other gets an id from its file and text (`stable_ids`), so
  `Dataset.changed_documents` finds what the second version adds or rewrites. Its questions come from a JSONL file
  of questions (split names of the user's choice) or there are none.
Tables (CSV, JSONL, Parquet, Hugging Face `save_to_disk` folders) are in `adaptlab.data.tables`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adaptlab.data.io import DOCUMENTS, MANIFEST, ORACLE, UNANSWERABLE, load_dataset, read_jsonl, write_dataset
from adaptlab.data.records import SPLIT_NAME, Dataset, Document, Generated, Manifest, Question
from adaptlab.errors import AdaptlabError, describe_validation_error

TOKEN = re.compile(r"\S+")
TOKEN_COUNT = "words (runs of non-whitespace)"
PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
TEXT_SUFFIXES = (".txt", ".md")
SQUAD_TEMPLATE = "Question: {question}\nAnswer:"


@dataclass
class Imported:
    """What an importer read: the records and the manifest's name, version and description."""

    name: str
    version: str
    description: str
    generated: Generated
    extra: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seed: int | None = None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_tree(folder: Path, files: list[Path]) -> str:
    """sha256 over `files`' paths relative to `folder` and their sha256s, in sorted order."""
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(folder).as_posix()):
        h.update(f"{path.relative_to(folder).as_posix()}\0{sha256_file(path)}\n".encode())
    return h.hexdigest()


def dataset_name(source: Path) -> str:
    """A default dataset name from a source path: its stem, lowercase, other characters as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", source.stem.lower()).strip("-") or "imported"


def save(imported: Imported, out: Path, update_of: str | None = None) -> Manifest:
    """Write `imported` as a dataset folder `out` (which exists and may be written): into a temporary folder first,
    then each file moved into place, the manifest last; files of an earlier dataset the new one lacks are removed.
    `update_of`: the digest of the dataset this one updates (`out` is then that dataset's `update/`)."""
    g = imported.generated
    if not g.documents and not g.questions:
        raise AdaptlabError(f"{imported.name}: nothing to import (no documents and no questions)")
    tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=out))
    try:
        manifest = write_dataset(tmp, imported.name, imported.version, imported.seed, g, imported.description,
                                 extra=imported.extra, update_of=update_of)
        for fname in [*manifest.files, MANIFEST]:
            os.replace(tmp / fname, out / fname)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for stale in (ORACLE, UNANSWERABLE):
        if stale not in manifest.files and (out / stale).exists():
            (out / stale).unlink()
    return manifest


# ------------------------------------------------------------------------------------------------ text folders

def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of each paragraph (text between blank lines), without surrounding whitespace."""
    spans = []
    start = 0
    for brk in [*PARAGRAPH_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        words = list(TOKEN.finditer(text, start, end))
        if words:
            spans.append((words[0].start(), words[-1].end()))
        if brk:
            start = brk.end()
    return spans


def chunk_spans(text: str, max_tokens: int) -> list[tuple[int, int]]:
    """Consecutive paragraphs joined into chunks of at most `max_tokens` tokens; a longer paragraph is cut between
    words. Each chunk is a [start, end) span of `text`."""
    pieces: list[tuple[int, int, int]] = []
    for start, end in paragraph_spans(text):
        words = [(m.start(), m.end()) for m in TOKEN.finditer(text, start, end)]
        for i in range(0, len(words), max_tokens):
            part = words[i:i + max_tokens]
            pieces.append((part[0][0], part[-1][1], len(part)))
    chunks: list[tuple[int, int, int]] = []
    for start, end, n in pieces:
        if chunks and chunks[-1][2] + n <= max_tokens:
            chunks[-1] = (chunks[-1][0], end, chunks[-1][2] + n)
        else:
            chunks.append((start, end, n))
    return [(start, end) for start, end, _ in chunks]


def read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise AdaptlabError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise AdaptlabError(f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x})") from None


def text_files(folder: Path) -> list[Path]:
    """The `.txt` and `.md` files under `folder` (hidden ones excluded), sorted by relative path."""
    if not folder.exists():
        raise AdaptlabError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise AdaptlabError(f"{folder}: not a folder (give a folder of .txt or .md files)")
    found = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    if not found:
        raise AdaptlabError(f"{folder}: no .txt or .md files")
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def import_folder(folder: Path, max_tokens: int = 256, name: str | None = None) -> Imported:
    """The `.txt`/`.md` files under `folder` as documents of at most `max_tokens` tokens; no questions."""
    if max_tokens < 1:
        raise AdaptlabError(f"--max-tokens {max_tokens}: must be at least 1")
    files = text_files(folder)
    documents = []
    for path in files:
        rel = path.relative_to(folder).as_posix()
        text = read_text(path)
        for k, (start, end) in enumerate(chunk_spans(text, max_tokens)):
            documents.append(Document(id=f"{rel}#{k}", text=text[start:end], source=rel, offsets=[start, end]))
    if not documents:
        raise AdaptlabError(f"{folder}: the .txt and .md files hold no text")
    params: dict[str, int | float | str | bool] = {
        "source": folder.resolve().name, "source_sha256": sha256_tree(folder, files), "files": len(files),
        "max_tokens": max_tokens, "token_count": TOKEN_COUNT,
    }
    description = f"Documents imported from the {len(files)} .txt/.md files of {folder.resolve().name}; no questions."
    return Imported(name or dataset_name(folder.resolve()), "import-folder-1", description,
                    Generated(documents=documents, questions=[], params=params))


# ------------------------------------------------------------------------------- a second version of a folder

def stable_ids(documents: list[Document], before: list[Document]) -> list[Document]:
    """`documents` (a second version of an imported folder, cut the same way) with the id of `before`'s document of
    the same file and text where there is one; any other document gets an id from its file and text
    (`<file>#<first 12 hex digits of the text's sha256>`), never one of `before`'s. So a document keeps its id while
    its text stays, and `Dataset.changed_documents` finds exactly the documents that are new or changed."""
    old: dict[tuple[str | None, str], list[str]] = {}
    for d in before:
        old.setdefault((d.source, d.text), []).append(d.id)
    used = {d.id for d in before}
    out = []
    for d in documents:
        same = old.get((d.source, d.text))
        if same:
            new_id = same.pop(0)
        else:
            stem = f"{d.source}#{hashlib.sha256(d.text.encode()).hexdigest()[:12]}"
            new_id, k = stem, 1
            while new_id in used:
                new_id, k = f"{stem}-{k}", k + 1
            used.add(new_id)
        out.append(d.model_copy(update={"id": new_id}))
    return out


def update_base(base: Path) -> Dataset:
    """The dataset `--update-of` names, loaded and checked: an adaptlab dataset folder with documents that is not
    itself an update."""
    if not base.is_dir():
        raise AdaptlabError(f"--update-of {base}: no such dataset folder")
    if not (base / DOCUMENTS).is_file():
        raise AdaptlabError(f"--update-of {base}: not an adaptlab dataset (no {DOCUMENTS}); give the folder of the "
                            "dataset this is a second version of")
    before = load_dataset(base)
    if before.manifest is not None and before.manifest.update_of is not None:
        raise AdaptlabError(f"--update-of {base}: is itself an update; give the dataset it updates")
    if not before.documents:
        raise AdaptlabError(f"--update-of {base}: has no documents (nothing for a second version to update)")
    return before


def import_folder_update(folder: Path, base: Path, questions: Path | None = None,
                         max_tokens: int | None = None) -> tuple[Imported, Dataset]:
    """A second version of an imported folder as the update of the dataset `base`: its files cut as the first
    version was (`max_tokens` from `base`'s manifest unless given), documents with stable ids (`stable_ids`), and
    the questions of `questions` (a JSONL file of questions, any split names) or none. Returns what to write and
    the dataset it updates; nothing is written."""
    before = update_base(base)
    if max_tokens is None:
        recorded = before.manifest.params.get("max_tokens") if before.manifest is not None else None
        max_tokens = recorded if isinstance(recorded, int) and not isinstance(recorded, bool) else 256
    imported = import_folder(folder, max_tokens, before.name)
    asked = read_jsonl(questions, Question) if questions is not None else []
    g = imported.generated
    params = dict(g.params)
    if questions is not None:
        params.update({"questions": questions.name, "questions_sha256": sha256_file(questions)})
    documents = stable_ids(g.documents, before.documents)
    after = Dataset(before.name, documents, asked)
    changed = len(after.changed_documents(before))
    description = (f"Update of {before.name}: documents from the {params['files']} .txt/.md files of "
                   f"{params['source']} ({changed} new or changed), "
                   + (f"{len(asked)} questions from {questions.name}." if questions is not None else "no questions."))
    imported = Imported(before.name, imported.version, description,
                        Generated(documents=documents, questions=asked, params=params))
    return imported, before


# ------------------------------------------------------------------------------------------------------- SQuAD

def read_json(path: Path) -> Any:
    """A JSON file's content; a missing, empty, non-UTF-8 or malformed file is one line."""
    if not path.exists():
        raise AdaptlabError(f"{path}: file not found")
    if not path.is_file():
        raise AdaptlabError(f"{path}: not a file")
    text = read_text(path)
    if not text.strip():
        raise AdaptlabError(f"{path}: file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise AdaptlabError(f"{path}:{e.lineno}: bad JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise AdaptlabError(f"{path}: bad JSON (nested too deeply)") from None


def _field(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict):
        raise AdaptlabError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise AdaptlabError(f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise AdaptlabError(f"{where}.{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def prompt_from(template: str, where: str, **values: str) -> str:
    """`template` filled in, without trailing whitespace; a template naming other fields is one line."""
    try:
        prompt = template.format(**values)
    except (KeyError, IndexError, ValueError) as e:
        raise AdaptlabError(f"--template {template!r}: cannot fill it in ({e}); it may name "
                            + ", ".join("{" + k + "}" for k in values)) from None
    prompt = prompt.rstrip()
    if not prompt.strip():
        raise AdaptlabError(f"{where}: the prompt is blank")
    return prompt


def check_split(split: str) -> str:
    if not SPLIT_NAME.match(split):
        raise AdaptlabError(f"--split {split!r}: not a lowercase identifier (letters, digits, _; a letter first)")
    return split


def distinct(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in texts if t.strip()))


def import_squad(path: Path, split: str = "test", name: str | None = None,
                 template: str = SQUAD_TEMPLATE) -> Imported:
    """A SQuAD v1.1/v2.0 JSON file: contexts as documents, answerable questions as open questions in `split`,
    unanswerable ones in `unanswerable.jsonl`."""
    check_split(split)
    data = _field(read_json(path), "data", list, str(path))
    documents: list[Document] = []
    doc_of_text: dict[str, str] = {}
    questions: list[Question] = []
    unanswerable: list[dict[str, Any]] = []
    seen: set[str] = set()
    for ai, article in enumerate(data):
        where_a = f"{path}: data[{ai}]"
        title = article.get("title", "") if isinstance(article, dict) else ""
        slug = re.sub(r"[^a-z0-9]+", "-", str(title).lower()).strip("-")[:40] or "article"
        for pi, paragraph in enumerate(_field(article, "paragraphs", list, where_a)):
            where_p = f"{where_a}.paragraphs[{pi}]"
            context = _field(paragraph, "context", str, where_p).strip()
            if not context:
                raise AdaptlabError(f"{where_p}.context: blank")
            doc_id = doc_of_text.get(context)
            if doc_id is None:
                doc_id = doc_of_text[context] = f"{slug}-{ai}-{pi}"
                documents.append(Document(id=doc_id, text=context, source_fact_ids=[doc_id], source=path.name))
            for qi, qa in enumerate(_field(paragraph, "qas", list, where_p)):
                where_q = f"{where_p}.qas[{qi}]"
                qid = _field(qa, "id", object, where_q)
                if not isinstance(qid, str | int) or isinstance(qid, bool) or not str(qid).strip():
                    raise AdaptlabError(f"{where_q}.id: expected a non-empty string, got {qid!r}")
                qid = str(qid)
                if qid in seen:
                    raise AdaptlabError(f"{where_q}: duplicate question id {qid!r}")
                seen.add(qid)
                text = _field(qa, "question", str, where_q).strip()
                prompt = prompt_from(template, where_q, question=text)
                answers = distinct([_field(a, "text", str, f"{where_q}.answers[{i}]")
                                    for i, a in enumerate(_field(qa, "answers", list, where_q))])
                if qa.get("is_impossible") is True or not answers:
                    plausible = [a.get("text", "") for a in qa.get("plausible_answers", []) if isinstance(a, dict)]
                    unanswerable.append({"id": qid, "prompt": prompt, "document": doc_id,
                                         "plausible_answers": distinct([p for p in plausible if isinstance(p, str)])})
                    continue
                try:
                    questions.append(Question(id=qid, prompt=prompt, answers=answers, split=split,
                                              source_fact_ids=[doc_id]))
                except ValidationError as e:
                    raise AdaptlabError(f"{where_q}: {describe_validation_error(e)}") from None
    if not documents:
        raise AdaptlabError(f"{path}: no contexts (expected SQuAD JSON: data[].paragraphs[].context and qas)")
    params: dict[str, int | float | str | bool] = {
        "source": path.name, "source_sha256": sha256_file(path), "template": template, "split": split,
        "unanswerable": len(unanswerable),
    }
    description = (f"SQuAD-format questions imported from {path.name}: contexts as documents, answerable questions "
                   "as open questions" + (f"; {len(unanswerable)} unanswerable in {UNANSWERABLE}"
                                          if unanswerable else "") + ".")
    return Imported(name or dataset_name(path), "import-squad-1", description,
                    Generated(documents=documents, questions=questions, params=params),
                    extra={UNANSWERABLE: unanswerable} if unanswerable else {})
