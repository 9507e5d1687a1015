"""Results in SQLite: one row per question × choice (so any analysis can be redone without the model), one row per
open question (the generated answer and its grades), metrics per split, and the cost of every phase. A run's rows
are written in one transaction together with its `done` mark, so a run is either completely stored or not at all:
an interrupted job (even `kill -9`) resumes by skipping the runs marked done, and never stores a result twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, model TEXT NOT NULL, dataset TEXT NOT NULL, method TEXT NOT NULL, seed INTEGER NOT NULL,
    config TEXT NOT NULL, info TEXT NOT NULL, finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    run_id TEXT NOT NULL, question_id TEXT NOT NULL, split TEXT NOT NULL, choice INTEGER NOT NULL,
    is_answer INTEGER NOT NULL, logprob REAL NOT NULL, n_tokens INTEGER NOT NULL, n_chars INTEGER NOT NULL,
    null_logprob REAL NOT NULL, PRIMARY KEY (run_id, question_id, choice)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL, split TEXT NOT NULL, metric TEXT NOT NULL, accuracy REAL NOT NULL, stderr REAL NOT NULL,
    chance REAL NOT NULL, n INTEGER NOT NULL, ties INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run_id, split, metric)
);
CREATE TABLE IF NOT EXISTS costs (
    run_id TEXT NOT NULL, phase TEXT NOT NULL, kind TEXT NOT NULL, tokens_processed INTEGER NOT NULL,
    tokens_reused INTEGER NOT NULL, tokens_trained INTEGER NOT NULL, tokens_generated INTEGER NOT NULL,
    flops REAL NOT NULL, seconds REAL NOT NULL, peak_memory_bytes INTEGER NOT NULL, queries INTEGER NOT NULL,
    tokens_cached INTEGER NOT NULL DEFAULT 0, dollars REAL NOT NULL DEFAULT 0, PRIMARY KEY (run_id, phase)
);
"""
# Tables added since a store was first written: created on opening, never required of an older store.
ADDED_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    run_id TEXT NOT NULL, question_id TEXT NOT NULL, split TEXT NOT NULL, text TEXT NOT NULL,
    exact_match REAL NOT NULL, f1 REAL NOT NULL, contains REAL NOT NULL, answer_logprob REAL,
    question TEXT NOT NULL DEFAULT '', reference TEXT NOT NULL DEFAULT '', PRIMARY KEY (run_id, question_id)
);
"""


@dataclass(frozen=True)
class ScoreRow:
    question_id: str
    split: str
    choice: int
    is_answer: bool
    logprob: float
    n_tokens: int
    n_chars: int
    null_logprob: float = 0.0  # log-likelihood after the content-free prompt (for calibrated scores)


@dataclass(frozen=True)
class AnswerRow:
    """An open question's generated answer and its grades against the references (`adaptlab.grading`)."""

    question_id: str
    split: str
    text: str
    exact_match: float
    f1: float
    contains: float
    answer_logprob: float | None = None  # per character, of the first reference; None where not scored
    question: str = ""  # the prompt as asked, and the first reference answer: for reading examples in a report
    reference: str = ""

    def value(self, metric: str) -> float | None:
        """The row's value of an open-question metric (`exact_match`, `f1`, `contains`, `answer_logprob`)."""
        values = {"exact_match": self.exact_match, "f1": self.f1, "contains": self.contains,
                  "answer_logprob": self.answer_logprob}
        return values[metric]


@dataclass(frozen=True)
class MetricRow:
    split: str
    # Multiple choice: "sum", "per_token", "per_char" or "calibrated" (how choice log-likelihoods become a
    # prediction), or "generative_mc"; open questions: "exact_match", "f1", "contains" (means of the grades) or
    # "answer_logprob" (mean log-likelihood per character of the first reference answer).
    metric: str
    accuracy: float
    stderr: float
    chance: float
    n: int
    ties: int = 0  # questions whose best score was shared by several choices (each credited 1/k)


@dataclass(frozen=True)
class CostRow:
    """What one phase consumed. kind: "one_off" (augmentation, fine-tuning, indexing) or "per_query" (totals over
    `queries` test queries; divide for the cost of one)."""

    phase: str
    kind: str
    tokens_processed: int = 0
    tokens_reused: int = 0
    tokens_trained: int = 0
    tokens_generated: int = 0
    flops: float = 0.0
    seconds: float = 0.0
    peak_memory_bytes: int = 0
    queries: int = 0
    tokens_cached: int = 0  # input tokens a server answered from its own cache (its `usage`), where it says
    dollars: float = 0.0  # what a served model's API billed, at the prices its spec gave (0 without them)


COST_FIELDS = tuple(f.name for f in fields(CostRow))
ANSWER_FIELDS = tuple(f.name for f in fields(AnswerRow))


@dataclass
class RunResult:
    run_id: str
    model: str
    dataset: str
    method: str
    seed: int
    config: dict[str, Any]
    scores: list[ScoreRow]
    metrics: list[MetricRow]
    costs: list[CostRow]
    info: dict[str, Any] = field(default_factory=dict)
    answers: list[AnswerRow] = field(default_factory=list)  # open questions' generated answers


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold the folder's lock (FOLDER/.lock) for the duration: a second adaptlab process that wants the same results
    folder stops with a one-line error instead of running the same work twice. The lock is released when the
    process ends in any way, `kill -9` included (it is an advisory `flock`, not the file's existence)."""
    import fcntl
    import os

    from adaptlab.errors import AdaptlabError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / ".lock").open("a+")
    except OSError as e:
        raise AdaptlabError(f"{folder}: cannot use as a results folder ({e.strerror or e})") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise AdaptlabError(f"{folder} is in use by {holder}; wait for it or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"adaptlab process {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


class Store:
    """A results database file; safe to reopen after an interruption."""

    def __init__(self, path: Path | str):
        from adaptlab.errors import AdaptlabError

        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60)
        except (OSError, sqlite3.Error) as e:
            raise AdaptlabError(f"{self.path}: cannot open a results database here ({e})") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA + ADDED_SCHEMA)
            # columns added since a store was first written: added to an older store on opening
            for table, column, kind in (("metrics", "ties", "INTEGER"), ("costs", "tokens_cached", "INTEGER"),
                                        ("costs", "dollars", "REAL")):
                if column not in {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind} NOT NULL DEFAULT 0")
        except sqlite3.Error as e:
            self._db.close()
            raise AdaptlabError(f"{self.path}: not a usable adaptlab results database ({e})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            yield self._db

    def is_done(self, run_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    def save(self, result: RunResult) -> None:
        """Store a whole run atomically (replacing any earlier partial rows of the same run id)."""
        with self._transaction() as db:
            for table in ("scores", "answers", "metrics", "costs", "runs"):
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (result.run_id,))
            db.executemany(
                "INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(result.run_id, s.question_id, s.split, s.choice, int(s.is_answer), s.logprob, s.n_tokens,
                  s.n_chars, s.null_logprob) for s in result.scores],
            )
            db.executemany(
                f"INSERT INTO answers (run_id, {', '.join(ANSWER_FIELDS)}) VALUES (?{', ?' * len(ANSWER_FIELDS)})",
                [(result.run_id, *(getattr(a, f) for f in ANSWER_FIELDS)) for a in result.answers],
            )
            db.executemany(
                "INSERT INTO metrics (run_id, split, metric, accuracy, stderr, chance, n, ties) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(result.run_id, m.split, m.metric, m.accuracy, m.stderr, m.chance, m.n, m.ties)
                 for m in result.metrics],
            )
            db.executemany(
                f"INSERT INTO costs (run_id, {', '.join(COST_FIELDS)}) VALUES (?{', ?' * len(COST_FIELDS)})",
                [(result.run_id, *(getattr(c, f) for f in COST_FIELDS)) for c in result.costs],
            )
            db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (result.run_id, result.model, result.dataset, result.method, result.seed,
                 json.dumps(result.config, sort_keys=True), json.dumps(result.info, sort_keys=True), time.time()),
            )

    def runs(self) -> list[dict[str, Any]]:
        cur = self._db.execute("SELECT run_id, model, dataset, method, seed, config, info FROM runs ORDER BY run_id")
        return [
            {"run_id": r[0], "model": r[1], "dataset": r[2], "method": r[3], "seed": r[4],
             "config": json.loads(r[5]), "info": json.loads(r[6])}
            for r in cur.fetchall()
        ]

    def metrics(self, run_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT run_id, split, metric, accuracy, stderr, chance, n, ties FROM metrics"
        args: tuple[Any, ...] = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            args = (run_id,)
        cols = ("run_id", "split", "metric", "accuracy", "stderr", "chance", "n", "ties")
        return [dict(zip(cols, r, strict=True)) for r in self._db.execute(sql + " ORDER BY run_id, split", args)]

    def costs(self, run_id: str | None = None) -> list[dict[str, Any]]:
        cols = ("run_id", *CostRow.__dataclass_fields__)
        sql = f"SELECT {', '.join(cols)} FROM costs"
        args: tuple[Any, ...] = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            args = (run_id,)
        return [dict(zip(cols, r, strict=True)) for r in self._db.execute(sql + " ORDER BY run_id, phase", args)]

    def scores(self, run_id: str) -> list[ScoreRow]:
        cur = self._db.execute(
            "SELECT question_id, split, choice, is_answer, logprob, n_tokens, n_chars, null_logprob FROM scores "
            "WHERE run_id = ? ORDER BY rowid", (run_id,),
        )
        return [ScoreRow(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6], r[7]) for r in cur.fetchall()]

    def answers(self, run_id: str | None = None) -> list[tuple[str, AnswerRow]]:
        """(run id, answer) of the stored open questions' answers, of one run or of all, in the order stored."""
        sql = (f"SELECT run_id, {', '.join(ANSWER_FIELDS)} FROM answers"
               + (" WHERE run_id = ?" if run_id is not None else "") + " ORDER BY rowid")
        cur = self._db.execute(sql, () if run_id is None else (run_id,))
        return [(r[0], AnswerRow(*r[1:])) for r in cur.fetchall()]

    def result(self, run_id: str) -> RunResult:
        """A stored run, as `save` received it."""
        run = next(r for r in self.runs() if r["run_id"] == run_id)
        metrics = [MetricRow(**{k: m[k] for k in MetricRow.__dataclass_fields__}) for m in self.metrics(run_id)]
        costs = [CostRow(**{k: c[k] for k in CostRow.__dataclass_fields__}) for c in self.costs(run_id)]
        answers = [a for _, a in self.answers(run_id)]
        return RunResult(scores=self.scores(run_id), metrics=metrics, costs=costs, answers=answers, **run)

    def count(self, table: str) -> int:
        assert table in ("runs", "scores", "answers", "metrics", "costs")
        return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _schema_tables() -> dict[str, set[str]]:
    """adaptlab's tables and the columns a store must already have, as the store creates them."""
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        conn.executescript(SCHEMA)
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        # (cid, name, type, notnull, default, pk): columns with a default may be added on opening (older stores)
        return {t: {row[1] for row in conn.execute(f"PRAGMA table_info({t})") if row[4] is None} for t in names}


def check_results_db(db: Path) -> None:
    """`db` is an adaptlab results database: a readable SQLite file with adaptlab's tables. Checked read-only, so
    that a corrupt or foreign file is a one-line error and is left exactly as it was (no tables added)."""
    from adaptlab.errors import AdaptlabError

    if not db.is_file():
        raise AdaptlabError(f"{db}: not a file")
    expected = _schema_tables()
    try:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            columns = {t: {row[1] for row in conn.execute(f"PRAGMA table_info({t})")}
                       for t in tables & set(expected)}
    except sqlite3.DatabaseError as e:
        raise AdaptlabError(f"{db}: not a readable results database ({e})") from None
    missing = [t for t in expected if t not in tables]
    if missing:
        raise AdaptlabError(f"{db}: not an adaptlab results database (no table {', '.join(missing)})")
    for table, needed in expected.items():  # columns with a default may be added on opening (older stores)
        if not needed <= columns[table]:
            absent = ", ".join(sorted(needed - columns[table]))
            raise AdaptlabError(f"{db}: not an adaptlab results database (table {table} lacks {absent})")


def results_db(rundir: Path) -> Path:
    """RUNDIR's results database, checked (read-only) before a report or a decision reads it."""
    from adaptlab.errors import AdaptlabError

    db = rundir / "results.sqlite"
    if not db.exists():
        raise AdaptlabError(f"{rundir}: no results.sqlite here (run `adaptlab run CONFIG --out {rundir}` first)")
    check_results_db(db)
    return db


def stored_run_ids(db: Path) -> set[str]:
    """The run ids stored in `db` (read-only; none when there is no database yet)."""
    if not db.exists():
        return set()
    with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=60)) as con:
        try:
            return {r[0] for r in con.execute("SELECT run_id FROM runs")}
        except sqlite3.OperationalError:
            return set()


DIGEST_DECIMALS = 6


def scores_digest(db: Path, run_ids: list[str]) -> str:
    """A sha256 (hex) of the stored scores of `run_ids`: every (run id, question id, choice, log-likelihood,
    content-free log-likelihood) row, sorted, the log-likelihoods written with `DIGEST_DECIMALS` decimals. Two
    folders with the same digest hold the same numbers, whatever order the runs were stored in and whatever else
    the folders hold (other runs, costs, timings).

    Six decimals: the scores are computed in float32, whose last bit is worth 5e-7 to 4e-6 nats at the organism's
    typical -5 to -50, so a change of any kernel's result shows, while the text never depends on how a float
    prints (repr, or a float32 widened to a double).
    A run id that is not stored is an error (a digest of some of the runs would look like a wrong one)."""
    from adaptlab.errors import AdaptlabError

    with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=60)) as con:
        stored = {r[0] for r in con.execute("SELECT run_id FROM runs")}
        missing = sorted(set(run_ids) - stored)
        if missing:
            raise AdaptlabError(f"{db}: {len(missing)} run(s) not stored, e.g. {missing[0]}: no digest of part of "
                                "the runs")
        rows = [r for run_id in sorted(set(run_ids)) for r in con.execute(
            "SELECT run_id, question_id, choice, logprob, null_logprob FROM scores WHERE run_id = ?", (run_id,))]
    digest = hashlib.sha256()
    for run_id, question_id, choice, logprob, null in sorted(rows):
        digest.update(f"{run_id}\t{question_id}\t{choice}\t{logprob:.{DIGEST_DECIMALS}f}\t"
                      f"{null:.{DIGEST_DECIMALS}f}\n".encode())
    return digest.hexdigest()
