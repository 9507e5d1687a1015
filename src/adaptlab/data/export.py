"""Export a dataset as lm-evaluation-harness tasks, one task per split and question shape.

Multiple-choice questions become `multiple_choice` tasks reading a JSONL of rows `{"id", "text", "choices",
"label"}` with `doc_to_text: "{{text}}"`; lm-eval scores `text + " " + choice` (its default target delimiter) — the
same continuation adaptlab scores. Open questions become `generate_until` tasks reading rows `{"id", "text",
"answers"}`: greedy generation after the prompt up to the first newline, leading whitespace removed, exact match
against any reference answer ignoring case and punctuation. A split that mixes both shapes gives two tasks (the open
one's name ends in `_open`). `prefix` (e.g. the training documents for ICL, as rendered for a model) is placed
before every prompt. A dataset's update (see `adaptlab.data.records`) is exported too, as tasks of its own named
`adaptlab_<dataset>_update_<split>`, with `update_prefix` (the corpus after the update, for ICL) before its prompts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from adaptlab.data.records import Dataset, Question
from adaptlab.errors import AdaptlabError
from adaptlab.paths import writable_dir


def task_name(dataset: str, split: str) -> str:
    return "adaptlab_" + re.sub(r"[^a-z0-9]+", "_", f"{dataset}_{split}".lower()).strip("_")


def _prompt(q: Question, prefix: str) -> str:
    return prefix + (f"{q.context_hint}\n{q.prompt}" if q.context_hint else q.prompt)


def _multiple_choice(name: str, rows: Path) -> dict[str, Any]:
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {"test": str(rows.resolve())}},
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_text": "{{text}}",
        "doc_to_choice": "choices",
        "doc_to_target": "label",
        "target_delimiter": " ",
        "metric_list": [
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
        ],
        "metadata": {"version": 1.0},
    }


def _generate_until(name: str, rows: Path) -> dict[str, Any]:
    # `doc_to_target` names the list column: lm-eval scores a list of targets by the best match.
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {"test": str(rows.resolve())}},
        "output_type": "generate_until",
        "test_split": "test",
        "doc_to_text": "{{text}}",
        "doc_to_target": "answers",
        "target_delimiter": " ",
        "generation_kwargs": {"until": ["\n"], "do_sample": False},
        "filter_list": [
            {"name": "remove_whitespace",
             "filter": [{"function": "remove_whitespace"}, {"function": "take_first"}]},
        ],
        "metric_list": [
            {"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
             "ignore_case": True, "ignore_punctuation": True},
        ],
        "metadata": {"version": 1.0},
    }


def _tasks(dataset: Dataset, name: str, prefix: str) -> list[tuple[str, list[Question], bool, str]]:
    """(task name, its questions, open or not, prefix): one task per split, two for a split mixing both shapes."""
    tasks = []
    for split in dataset.splits:
        questions = dataset.split(split)
        closed = [q for q in questions if not q.is_open]
        opened = [q for q in questions if q.is_open]
        for qs, is_open in ((closed, False), (opened, True)):
            if qs:
                tasks.append((task_name(name, f"{split}_open" if is_open and closed else split), qs, is_open, prefix))
    return tasks


def export_lm_eval(dataset: Dataset, out: Path, prefix: str = "", force: bool = False,
                   update_prefix: str = "") -> list[str]:
    """Write one YAML + JSONL per task into `out` (the dataset's, then its update's); returns the task names. Files
    of those names already there are not overwritten unless `force` (checked before anything is written)."""
    tasks = _tasks(dataset, dataset.name, prefix)
    if dataset.update is not None:
        tasks += _tasks(dataset.update, f"{dataset.name}_update", update_prefix)
    if out.exists() and not out.is_dir():
        raise AdaptlabError(f"{out}: task folder is a file, not a folder")
    there = [f"{name}{ext}" for name, *_ in tasks for ext in (".yaml", ".jsonl") if (out / f"{name}{ext}").exists()]
    if there and not force:
        raise AdaptlabError(f"{out}: already holds {', '.join(there)}; choose another --out, or add --force to "
                            "overwrite")
    writable_dir(out, "task folder")
    names = []
    for name, qs, is_open, task_prefix in tasks:
        rows = out / f"{name}.jsonl"
        with rows.open("w", encoding="utf-8") as f:
            for q in qs:
                row: dict[str, Any] = {"id": q.id, "text": _prompt(q, task_prefix)}
                if is_open:
                    row["answers"] = q.references
                else:
                    row.update(choices=q.choices, label=q.answer)
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        config = _generate_until(name, rows) if is_open else _multiple_choice(name, rows)
        (out / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        names.append(name)
    return names
