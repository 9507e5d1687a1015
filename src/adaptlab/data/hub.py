"""A dataset as a Hugging Face `datasets` folder (Parquet + a dataset card), and such a folder read back.

`export_hf` writes one configuration per record type, each a folder of Parquet files with typed features:

- `questions` (the default configuration): one `datasets` split per adaptlab split (`questions/<split>.parquet`);
- `documents`: the training documents, split `train`;
- `oracle` (when the dataset has oracle inferences): split `train`.

`README.md` is the dataset card: YAML front matter with `configs:` (the `data_files` of every split, so that
`datasets.load_dataset(FOLDER, "questions")` gives the splits), `dataset_info:` (the features and counts), the
license, and an `adaptlab:` block with what the manifest says (generator, version, seed, parameters, counts,
chance level per split) and the dataset's digest; the body says the same in prose, with the provenance.

`read_exported` reads a folder written by `export_hf` back as the records and manifest fields it came from, so
that `adaptlab data import hf FOLDER` writes the same adaptlab dataset (the same `Dataset.digest()`: questions come
back grouped by split, in the order of the card, which is the order of every generator). Files a manifest lists
beside the dataset (e.g. `unanswerable.jsonl`) are not exported.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from adaptlab.data.importers import Imported
from adaptlab.data.records import Dataset, Document, Generated, Question
from adaptlab.errors import AdaptlabError, describe_validation_error

CARD = "README.md"
CONFIGS = ("questions", "documents", "oracle")
CARD_KEY = "adaptlab"  # the card's block that makes a folder adaptlab's export

# Features per record type: (field, "string" | "int64" | "list"), a list being a list of strings or of integers.
DOCUMENT_FEATURES: tuple[tuple[str, str, str | None], ...] = (
    ("id", "string", None), ("text", "string", None), ("source_fact_ids", "list", "string"),
    ("source", "string", None), ("offsets", "list", "int64"),
)
QUESTION_FEATURES: tuple[tuple[str, str, str | None], ...] = (
    ("id", "string", None), ("prompt", "string", None), ("choices", "list", "string"), ("answer", "int64", None),
    ("answers", "list", "string"), ("split", "string", None), ("context_hint", "string", None),
    ("source_fact_ids", "list", "string"),
)
FEATURES = {"questions": QUESTION_FEATURES, "documents": DOCUMENT_FEATURES, "oracle": DOCUMENT_FEATURES}

# Generators whose data adaptlab invents (MIT, as adaptlab); `reversal-curse` is Berglund et al.'s published data.
BERGLUND = ("Berglund et al. 2024, \"The Reversal Curse\" (arXiv 2309.12288): their fictitious celebrities, loaded "
            "from their published files; their repository's license applies")


def _schema(config: str) -> Any:
    """The Arrow schema of a configuration, with the `datasets` features in its metadata."""
    import pyarrow as pa

    arrow = {"string": pa.string(), "int64": pa.int64()}
    fields = [pa.field(name, pa.list_(arrow[inner or ""]) if kind == "list" else arrow[kind])
              for name, kind, inner in FEATURES[config]]
    features = {name: ({"feature": {"dtype": inner, "_type": "Value"}, "_type": "List"} if kind == "list"
                       else {"dtype": kind, "_type": "Value"}) for name, kind, inner in FEATURES[config]}
    return pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": features}})})


def _yaml_features(config: str) -> list[dict[str, str]]:
    return [{"name": name, "list": inner} if kind == "list" and inner else {"name": name, "dtype": kind}
            for name, kind, inner in FEATURES[config]]


def _rows(config: str, records: list[Document] | list[Question]) -> list[dict[str, Any]]:
    names = [name for name, _, _ in FEATURES[config]]
    return [{name: record.model_dump()[name] for name in names} for record in records]


def _table(config: str, records: list[Document] | list[Question]) -> Any:
    import pyarrow as pa

    return pa.Table.from_pylist(_rows(config, records), schema=_schema(config))


@dataclass
class Part:
    """One split of one configuration: its file (relative to the folder) and records."""

    config: str
    split: str
    path: str
    records: list[Document] | list[Question]


def _parts(dataset: Dataset) -> list[Part]:
    parts: list[Part] = [Part("questions", s, f"questions/{s}.parquet", dataset.split(s)) for s in dataset.splits]
    parts.append(Part("documents", "train", "documents/train.parquet", dataset.documents))
    if dataset.oracle:
        parts.append(Part("oracle", "train", "oracle/train.parquet", dataset.oracle))
    return parts


def provenance(dataset: Dataset) -> tuple[str, str]:
    """(license id for the card, where the data comes from)."""
    from adaptlab.data.registry import GENERATORS

    m = dataset.manifest
    if m is None:
        return "unknown", "a dataset folder without manifest.json: its origin and license are not recorded"
    if m.name == "reversal-curse":
        return "other", BERGLUND
    if m.name in GENERATORS and not m.generator_version.startswith("import-"):
        return "mit", (f"synthetic: drawn by adaptlab's `{m.name}` generator (version {m.generator_version}, seed "
                       f"{m.seed}) from made-up words, licensed like adaptlab (MIT)")
    source = m.params.get("source")
    sha = m.params.get("source_sha256")
    where = f" from `{source}` (sha256 {sha})" if source else ""
    return "other", f"imported or written by adaptlab ({m.generator_version}){where}: the source's license applies"


def card_metadata(dataset: Dataset) -> dict[str, Any]:
    """The card's YAML front matter."""
    parts = _parts(dataset)
    sizes = {p.path: _table(p.config, p.records).nbytes for p in parts}  # `datasets` wants each split's bytes
    configs, infos = [], []
    for config in CONFIGS:
        mine = [p for p in parts if p.config == config]
        if not mine:
            continue
        entry: dict[str, Any] = {"config_name": config,
                                 "data_files": [{"split": p.split, "path": p.path} for p in mine]}
        if config == "questions" or (not dataset.questions and config == "documents"):
            entry["default"] = True
        configs.append(entry)
        infos.append({"config_name": config, "features": _yaml_features(config),
                      "splits": [{"name": p.split, "num_bytes": sizes[p.path], "num_examples": len(p.records)}
                                 for p in mine],
                      "dataset_size": sum(sizes[p.path] for p in mine)})
    license_id, _ = provenance(dataset)
    m = dataset.manifest
    n_open = sum(q.is_open for q in dataset.questions)
    tasks = (["multiple-choice"] if n_open < len(dataset.questions) else []) + (["question-answering"] if n_open
                                                                                 else [])
    return {
        "pretty_name": dataset.name,
        "license": license_id,
        "language": ["en"],
        "tags": ["adaptlab", "in-context-learning", "fine-tuning"],
        "task_categories": tasks,
        "configs": configs,
        "dataset_info": infos,
        CARD_KEY: {
            "name": dataset.name,
            "generator_version": m.generator_version if m else None,
            "seed": m.seed if m else None,
            "params": dict(m.params) if m else {},
            "description": m.description if m else "",
            "documents": len(dataset.documents),
            "oracle": len(dataset.oracle),
            "splits": {s: len(dataset.split(s)) for s in dataset.splits},
            "chance": {s: round(dataset.chance(s), 6) for s in dataset.splits},
            "digest": dataset.digest(),
        },
    }


def card(dataset: Dataset) -> str:
    """The dataset card: YAML front matter, then what it holds and where it comes from."""
    meta = card_metadata(dataset)
    info = meta[CARD_KEY]
    _, origin = provenance(dataset)
    lines = [f"# {dataset.name}", ""]
    if info["description"]:
        lines += [info["description"].strip(), ""]
    lines += [
        "An adaptlab dataset: training documents, and test questions whose splits need the knowledge in the "
        "documents.", "",
        f"- **Generator**: `{dataset.name}`, version `{info['generator_version']}`, seed `{info['seed']}`",
        f"- **Parameters**: {', '.join(f'`{k}={v}`' for k, v in info['params'].items()) or 'none'}",
        f"- **Provenance**: {origin}",
        f"- **Digest** (adaptlab's `Dataset.digest()`): `{info['digest']}`", "",
        "| configuration | split | rows | chance |", "|---|---|---|---|",
    ]
    lines += [f"| questions | {s} | {n} | {info['chance'][s]:.4f} |" for s, n in info["splits"].items()]
    lines.append(f"| documents | train | {info['documents']} | |")
    if info["oracle"]:
        lines.append(f"| oracle | train | {info['oracle']} | |")
    lines += [
        "",
        "Questions are multiple choice (`choices`, the index of the right one in `answer`) or open (`answers`, the "
        "reference answers; `choices` empty, `answer` null). Each choice is scored as the continuation "
        "`prompt + \" \" + choice`; chance is the mean of 1/choices (0 for open questions).",
        "",
        "```python",
        "import datasets",
        f'questions = datasets.load_dataset("PATH", "questions")  # splits: {", ".join(info["splits"]) or "none"}',
        'documents = datasets.load_dataset("PATH", "documents")["train"]',
        "```",
        "",
        "Back into an adaptlab dataset folder: `adaptlab data import hf PATH --out FOLDER`.",
    ]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n" + "\n".join(lines) + "\n"


def _written_here(out: Path, parts: list[Part]) -> list[str]:
    """What an export into `out` would replace: the card and the configurations' folders present there."""
    names = [CARD, *dict.fromkeys(p.config for p in parts)]
    return [n for n in names if (out / n).exists()]


def export_hf(dataset: Dataset, out: Path, force: bool = False) -> list[Part]:
    """Write `dataset` as a Hugging Face dataset folder `out`: the card and one folder of Parquet files per
    configuration. A card or configuration folder already there is replaced only with `force` (checked before
    anything is written); other files in `out` are left alone. Returns the parts written."""
    from adaptlab.paths import writable_dir

    parts = _parts(dataset)
    if out.exists() and not out.is_dir():
        raise AdaptlabError(f"{out}: output folder is a file, not a folder")
    there = _written_here(out, parts)
    if there and not force:
        raise AdaptlabError(f"{out}: already holds {', '.join(there)}; choose another --out, or add --force to "
                            "overwrite")
    writable_dir(out)
    text = card(dataset)
    tmp = Path(tempfile.mkdtemp(prefix=".export-hf-", dir=out))
    try:  # everything written aside first, then moved into place (the card last)
        import pyarrow.parquet as pq

        for part in parts:
            (tmp / part.path).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(_table(part.config, part.records), tmp / part.path)
        (tmp / CARD).write_text(text, encoding="utf-8")
        for config in dict.fromkeys(p.config for p in parts):
            if (out / config).is_dir() and not (out / config).is_symlink():
                shutil.rmtree(out / config)
            elif (out / config).exists() or (out / config).is_symlink():
                (out / config).unlink()
            os.replace(tmp / config, out / config)
        if force:  # an earlier export's configuration the new card does not list (e.g. its oracle)
            for config in CONFIGS:
                if config not in {p.config for p in parts} and (out / config).is_dir():
                    shutil.rmtree(out / config)
        os.replace(tmp / CARD, out / CARD)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return parts


# --------------------------------------------------------------------------------------------- reading back

def front_matter(path: Path) -> dict[str, Any] | None:
    """The YAML front matter of a dataset card, or None when the file has none."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    try:
        meta = yaml.safe_load(text[3:end])
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise AdaptlabError(f"{path}:{mark.line + 2 if mark else 1}: the card's YAML is invalid") from None
    return meta if isinstance(meta, dict) else None


def is_export(folder: Path) -> bool:
    """Whether `folder` is a dataset folder written by `export_hf` (its card has the adaptlab block)."""
    meta = front_matter(folder / CARD) if (folder / CARD).is_file() else None
    return meta is not None and isinstance(meta.get(CARD_KEY), dict)


def _read_records(folder: Path, path: str, model: type[Document] | type[Question]) -> list[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = folder / path
    if not file.resolve().is_relative_to(folder.resolve()):
        raise AdaptlabError(f"{folder / CARD}: data file {path!r} lies outside the folder")
    try:
        rows = pq.read_table(file).to_pylist()
    except (pa.ArrowException, OSError) as e:
        raise AdaptlabError(f"{file}: not a readable Parquet file ({' '.join(str(e).split())[:200]})") from None
    records = []
    for i, row in enumerate(rows):
        try:
            records.append(model.model_validate(row))
        except ValidationError as e:
            raise AdaptlabError(f"{file}: row {i}: {describe_validation_error(e)}") from None
    return records


def read_exported(folder: Path) -> tuple[Imported, str | None]:
    """The records and manifest fields of a folder `export_hf` wrote, and the digest its card states; any problem
    is one line naming the file."""
    path = folder / CARD
    meta = front_matter(path)
    if meta is None or not isinstance(meta.get(CARD_KEY), dict):
        raise AdaptlabError(f"{path}: not a dataset card written by `adaptlab data export-hf`")
    info = meta[CARD_KEY]
    files: dict[str, list[tuple[str, str]]] = {}
    for entry in meta.get("configs") or []:
        if not isinstance(entry, dict) or entry.get("config_name") not in CONFIGS:
            continue
        for df in entry.get("data_files") or []:
            if not isinstance(df, dict) or not isinstance(df.get("path"), str):
                raise AdaptlabError(f"{path}: configs: data_files of {entry['config_name']!r} must give a path")
            files.setdefault(entry["config_name"], []).append((str(df.get("split")), df["path"]))
    documents = [d for _, p in files.get("documents", []) for d in _read_records(folder, p, Document)]
    questions = [q for _, p in files.get("questions", []) for q in _read_records(folder, p, Question)]
    oracle = [d for _, p in files.get("oracle", []) for d in _read_records(folder, p, Document)]
    params = info.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(v, int | float | str | bool) for v in params.values()):
        raise AdaptlabError(f"{path}: {CARD_KEY}.params must map names to numbers, text or true/false")
    seed = info.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise AdaptlabError(f"{path}: {CARD_KEY}.seed must be a whole number, got {seed!r}")
    imported = Imported(
        name=str(info.get("name") or meta.get("pretty_name") or folder.resolve().name),
        version=str(info.get("generator_version") or "import-hub-1"),
        description=str(info.get("description") or ""),
        generated=Generated(documents=documents, questions=questions, oracle=oracle, params=params),
        seed=seed,
    )
    digest = info.get("digest")
    return imported, digest if isinstance(digest, str) else None
