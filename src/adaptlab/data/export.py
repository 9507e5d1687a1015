"""Export a dataset as lm-evaluation-harness `multiple_choice` tasks, one task per split.

Each task reads a JSONL of rows `{"id", "text", "choices", "label"}` with `doc_to_text: "{{text}}"`; lm-eval scores
`text + " " + choice` (its default target delimiter) — the same continuation adaptlab scores. `prefix` (e.g. the
training documents for ICL, as rendered for a model) is placed before every prompt.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from adaptlab.data.records import Dataset


def task_name(dataset: str, split: str) -> str:
    return "adaptlab_" + re.sub(r"[^a-z0-9]+", "_", f"{dataset}_{split}".lower()).strip("_")


def export_lm_eval(dataset: Dataset, out: Path, prefix: str = "") -> list[str]:
    """Write one YAML + JSONL per split into `out`; returns the task names."""
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for split in dataset.splits:
        name = task_name(dataset.name, split)
        rows = out / f"{name}.jsonl"
        with rows.open("w", encoding="utf-8") as f:
            for q in dataset.split(split):
                prompt = f"{q.context_hint}\n{q.prompt}" if q.context_hint else q.prompt
                row = {"id": q.id, "text": prefix + prompt, "choices": q.choices, "label": q.answer}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        config = {
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
        (out / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        names.append(name)
    return names
