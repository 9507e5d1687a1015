"""The record types every dataset, method and evaluator shares.

A dataset is training text (`Document`) plus test questions (`Question`) of two shapes, which a dataset may mix:
- **multiple choice** (`choices` and the index of the right one, `answer`): the choices are never shown in the
  prompt; each one is scored as the continuation `prompt + " " + choice` (lm-evaluation-harness's default target
  delimiter), so a prompt never ends with whitespace and a choice never starts with it;
- **open** (`answers`: one or more reference answers, no choices): the model generates its answer after the prompt,
  graded against the references (exact match, token F1, containment), and the first reference's log-likelihood as
  the continuation `prompt + " " + answer` is a graded score that needs no generation.
Optionally a dataset also carries `oracle` documents: valid inferences from the training facts, written as
sentences by the generator (the control for augmented fine-tuning).

A dataset may also come with an **update**: the same world after a share of its facts changed, a complete dataset of
its own (the corpus after the update: unchanged documents kept as they were, documents stating a changed fact
superseded by new ones, documents about new facts added) whose questions fall in the update splits — `updated` (about
a changed fact; the old answer is one of the distractors), `updated_reversal` (the same, reversed, where the dataset
has reversals), `new` (facts the update adds) and `unchanged` (facts that did not change). A method adapted to the
dataset is then brought up to date along an update path and tested on the update's questions.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SPLIT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# The splits of an update's questions (see the module docstring).
UPDATED, UPDATED_REVERSAL, NEW, UNCHANGED = "updated", "updated_reversal", "new", "unchanged"
UPDATE_SPLITS = (UPDATED, UPDATED_REVERSAL, NEW, UNCHANGED)


class Document(BaseModel):
    """A piece of training text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    source_fact_ids: list[str] = Field(default_factory=list)
    # Where an imported document came from: the source file (relative to what was imported) and, for text cut
    # from a file, the character span [start, end) of the file's text that `text` is.
    source: str | None = None
    offsets: list[int] | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is blank")
        return v

    @field_validator("offsets")
    @classmethod
    def _offsets_ok(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) != 2 or not 0 <= v[0] < v[1]):
            raise ValueError(f"offsets must be [start, end] with 0 <= start < end, got {v}")
        return v

    def canonical_json(self) -> str:
        """The document as a run's identity reads it (`Dataset.digest`): `source` and `offsets` appear only when
        set, so digests and run ids of datasets stored before those fields existed stay what they were."""
        unset = {name for name, value in (("source", self.source), ("offsets", self.offsets)) if value is None}
        return self.model_dump_json(exclude=unset)


class Question(BaseModel):
    """A test question: multiple choice (`choices`, `answer`) or open (`answers`, the reference answers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    choices: list[str] = Field(default_factory=list)
    answer: int | None = None
    split: str
    # Text that belongs before the prompt whatever the method (e.g. a task framing); not the knowledge itself.
    context_hint: str | None = None
    # The generator's ids of the facts this question depends on (for analysis and retrieval diagnostics).
    source_fact_ids: list[str] = Field(default_factory=list)
    # Reference answers of an open question (any one is right), in place of `choices` and `answer`.
    answers: list[str] | None = None

    @field_validator("choices")
    @classmethod
    def _choices_ok(cls, v: list[str]) -> list[str]:
        if len(v) == 1:
            raise ValueError(f"needs at least 2 choices, got {len(v)}")
        if any(not c.strip() for c in v):
            raise ValueError("a choice is empty")
        if len(set(v)) != len(v):
            raise ValueError("choices repeat")
        if any(c != c.strip() for c in v):
            raise ValueError("a choice starts or ends with whitespace (the delimiter ' ' is added when scoring)")
        return v

    @field_validator("prompt")
    @classmethod
    def _prompt_ok(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("prompt is blank")
        if v != v.rstrip():
            raise ValueError("prompt ends with whitespace (the delimiter ' ' is added when scoring)")
        return v

    @field_validator("split")
    @classmethod
    def _split_ok(cls, v: str) -> str:
        if not SPLIT_NAME.match(v):
            raise ValueError(f"split {v!r} is not a lowercase identifier")
        return v

    @field_validator("answers")
    @classmethod
    def _answers_ok(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("answers is empty (give at least one reference answer)")
        if any(not a.strip() for a in v):
            raise ValueError("an answer is empty")
        if any(a != a.strip() for a in v):
            raise ValueError("an answer starts or ends with whitespace (the delimiter ' ' is added when scoring)")
        return v

    @model_validator(mode="after")
    def _one_shape(self) -> Question:
        if self.answers is not None:
            if self.choices or self.answer is not None:
                raise ValueError("an open question has `answers` and no `choices` or `answer`")
            return self
        if not self.choices:
            if self.answer is not None:
                raise ValueError("choices: needs at least 2 choices, got 0")
            raise ValueError("give `choices` and `answer` (multiple choice) or `answers` (an open question)")
        if self.answer is None:
            raise ValueError("missing field 'answer' (the index of the right choice)")
        if not 0 <= self.answer < len(self.choices):
            raise ValueError(f"answer index {self.answer} is out of range for {len(self.choices)} choices")
        return self

    @property
    def is_open(self) -> bool:
        return self.answers is not None

    @property
    def references(self) -> list[str]:
        """The right answers as text: an open question's references, a multiple-choice question's right choice."""
        if self.answers is not None:
            return list(self.answers)
        assert self.answer is not None
        return [self.choices[self.answer]]

    @property
    def chance(self) -> float:
        """Accuracy by guessing: 1/choices; 0 for an open question (nothing to guess among)."""
        return 0.0 if self.answers is not None else 1.0 / len(self.choices)

    def canonical_json(self) -> str:
        """The question as a run's identity reads it (`Dataset.digest`): fields added since multiple-choice
        datasets were first stored appear only when set, so their digests and run ids stay what they were."""
        return self.model_dump_json(exclude={"answers"} if self.answers is None else None)


class Manifest(BaseModel):
    """What a dataset folder holds, how it was made, and checksums of its files."""

    model_config = ConfigDict(extra="forbid")

    name: str
    generator_version: str
    seed: int | None = None
    params: dict[str, int | float | str | bool] = Field(default_factory=dict)
    description: str = ""
    documents: int
    oracle: int = 0
    splits: dict[str, int]
    chance: dict[str, float]
    files: dict[str, str]
    # An update's manifest: the digest (`Dataset.digest`) of the dataset it updates.
    update_of: str | None = None


@dataclass
class Dataset:
    """A loaded, validated dataset."""

    name: str
    documents: list[Document]
    questions: list[Question]
    oracle: list[Document] = field(default_factory=list)
    manifest: Manifest | None = None
    # The same world after an update (a dataset of its own; see the module docstring), if the dataset has one.
    update: Dataset | None = None

    @property
    def splits(self) -> list[str]:
        return list(dict.fromkeys(q.split for q in self.questions))

    def split(self, name: str) -> list[Question]:
        return [q for q in self.questions if q.split == name]

    def limited(self, per_split: int) -> Dataset:
        """The same dataset with only the first `per_split` questions of each split."""
        kept = [q for s in self.splits for q in self.split(s)[:per_split]]
        update = self.update.limited(per_split) if self.update is not None else None
        return Dataset(self.name, self.documents, kept, self.oracle, self.manifest, update)

    def changed_documents(self, before: Dataset) -> list[Document]:
        """This corpus' documents that `before` does not have (same id and text): what an update adds or rewrites."""
        old = {(d.id, d.text) for d in before.documents}
        return [d for d in self.documents if (d.id, d.text) not in old]

    def chance(self, split: str) -> float:
        qs = self.split(split)
        return sum(q.chance for q in qs) / len(qs)

    def digest(self) -> str:
        """sha256 of everything a run reads: documents, questions (after any limit) and oracle inferences. Two
        folders or draws with the same name but other content, or the same dataset limited differently, differ.
        An update is not part of it (a run on the dataset itself does not read it; an update run hashes both)."""
        h = hashlib.sha256()
        for part, records in (("documents", self.documents), ("questions", self.questions), ("oracle", self.oracle)):
            h.update(part.encode())
            for record in records:
                h.update(record.canonical_json().encode() + b"\n")
        return h.hexdigest()


@dataclass
class Generated:
    """What a dataset generator returns; `make_dataset` turns it into files and a manifest."""

    documents: list[Document]
    questions: list[Question]
    oracle: list[Document] = field(default_factory=list)
    params: dict[str, int | float | str | bool] = field(default_factory=dict)
    update: Generated | None = None  # the same world after an update (written to the folder's `update/`)
