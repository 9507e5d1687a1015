"""Open questions end to end: every method answers them, the answers are graded and stored, a dataset that mixes
multiple-choice and open questions scores its multiple-choice ones exactly as alone, the report and `recommend`
read open splits by their own metric, and an older store without the `answers` table still reports."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from rich.console import Console

from adaptlab.context import OPEN_ANSWER_TOKENS, suffix_budget
from adaptlab.data.records import Dataset, Question
from adaptlab.errors import AdaptlabError
from adaptlab.evaluate import query_costs
from adaptlab.evaluate_open import ANSWER_LOGPROB, OPEN_METRIC_NAMES, answer_questions, open_rows
from adaptlab.experiment import run_experiment
from adaptlab.grading import OPEN_METRICS
from adaptlab.methods import MethodOptions, get_method
from adaptlab.models.base import ChoiceScore, GenerationStats, LanguageModel, ScoreRequest, ScoringStats
from adaptlab.report.tables import print_run
from adaptlab.store import AnswerRow, RunResult, Store, check_results_db
from conftest import generated_dataset

OPTIONS = MethodOptions(
    finetune={"steps": 2, "batch_size": 2},
    memory={"positions": 4, "steps": 1, "batch_size": 1, "cuts": 1, "samples": 1, "max_new_tokens": 4},
    augment={"max_new_tokens_local": 8, "max_new_tokens_global": 8},
)


def open_version(questions: Sequence[Question], split: str = "open") -> list[Question]:
    """Each multiple-choice question asked openly: the same prompt, its right choice as the reference."""
    return [Question(id=f"open-{q.id}", prompt=q.prompt, answers=[q.choices[q.answer or 0]], split=split,
                     source_fact_ids=q.source_fact_ids) for q in questions]


@pytest.fixture(scope="module")
def reversals() -> Dataset:
    return generated_dataset("simple-reversals", 0, n_facts=4, articles_per_fact=2)


@pytest.fixture(scope="module")
def open_only(reversals: Dataset) -> Dataset:
    return Dataset("reversals-open", reversals.documents, open_version(reversals.questions[:4]), reversals.oracle)


@pytest.fixture(scope="module")
def mixed(reversals: Dataset) -> Dataset:
    return Dataset("reversals-mixed", reversals.documents,
                   [*reversals.questions, *open_version(reversals.questions[:3])], reversals.oracle)


def run(model: LanguageModel, dataset: Dataset, method: str, workdir: Path) -> RunResult:
    return run_experiment(model, "tiny", dataset, method, 0, OPTIONS, workdir, cache_dir=workdir / "cache",
                          model_fingerprint="tiny-test")


@pytest.mark.parametrize("method", ["pretrained", "icl", "rag", "memory", "ft", "ft+rag", "aug-ft", "aug-oracle-ft"])
def test_every_method_answers_open_questions_and_stores_the_answers(tiny, open_only, method, tmp_path: Path):
    result = run(tiny, open_only, method, tmp_path)
    questions = open_only.questions
    assert result.scores == []  # no choices to score
    assert {(m.split, m.metric) for m in result.metrics} == {("open", name) for name in OPEN_METRIC_NAMES}
    for m in result.metrics:
        assert m.chance == 0.0 and m.n == len(questions)
        if m.metric in OPEN_METRICS:
            assert 0.0 <= m.accuracy <= 1.0
    assert [a.question_id for a in result.answers] == [q.id for q in questions]
    for a, q in zip(result.answers, questions, strict=True):
        assert a.reference == q.references[0] and a.question == q.prompt
        assert a.answer_logprob is not None and a.answer_logprob < 0
        assert a.text == a.text.strip() and "\n" not in a.text
    logprob = next(m for m in result.metrics if m.metric == ANSWER_LOGPROB)
    assert logprob.accuracy == pytest.approx(sum(a.answer_logprob or 0 for a in result.answers) / len(questions))
    scoring = next(c for c in result.costs if c.phase == "scoring")
    assert 0 < scoring.tokens_generated <= OPEN_ANSWER_TOKENS * len(questions)
    assert scoring.tokens_processed > scoring.tokens_generated and scoring.flops > 0
    query = next(c for c in result.costs if c.phase == "query")
    assert query.tokens_generated > 0  # deployment generates the answers too
    with Store(tmp_path / "results.sqlite") as store:
        store.save(result)
        assert store.result(result.run_id).answers == result.answers
        assert store.count("answers") == len(questions)
        store.save(result)  # saving the same run again replaces its answers
        assert store.count("answers") == len(questions)


def test_answers_are_the_models_greedy_continuations_of_each_prompt(tiny, open_only, tmp_path: Path):
    """The shared-prefix generation gives exactly what generating each question alone after its context gives."""
    prepared = get_method("icl").prepare(tiny, open_only, seed=0, workdir=tmp_path)
    answered = answer_questions(tiny, open_only.questions, prepared.contexts)
    alone = [tiny.generate([q.prompt], context=ctx, max_new_tokens=OPEN_ANSWER_TOKENS, stop=("\n",))[0].strip()
             for q, ctx in zip(open_only.questions, prepared.contexts, strict=True)]
    assert [a.text for a in answered.answers] == alone
    # the prefix is the one scoring uses: the reference's log-likelihood is that of scoring it as a choice
    scores, _ = tiny.score([ScoreRequest(prepared.contexts[0], open_only.questions[0].prompt,
                                         (open_only.questions[0].references[0],))])
    assert answered.answers[0].answer_logprob == pytest.approx(scores[0][0].per_char)
    # the prefix is shared: each question's context is prefilled once, not once per question
    assert answered.generation.tokens_reused >= tiny.count_tokens(prepared.contexts[0]) * len(alone)


def test_a_mixed_dataset_scores_its_multiple_choice_questions_as_alone(tiny, reversals, mixed, tmp_path: Path):
    alone = run(tiny, reversals, "icl", tmp_path / "mc")
    both = run(tiny, mixed, "icl", tmp_path / "mixed")
    assert both.scores == alone.scores
    mc = [m for m in both.metrics if m.split != "open"]
    assert mc == alone.metrics
    assert {m.metric for m in both.metrics if m.split == "open"} == set(OPEN_METRIC_NAMES)
    assert len(both.answers) == 3 and all(a.split == "open" for a in both.answers)
    assert both.run_id != alone.run_id  # a different dataset


class Canned(LanguageModel):
    """A model that replies with fixed texts (and a fixed log-likelihood), to check the grading of known answers."""

    name = "canned"
    context_window = 10_000
    n_params = 0

    def __init__(self, replies: dict[str, str], protocol: str = "likelihood"):
        self.replies = replies
        self.protocol = protocol
        self.asked: list[str] = []

    def score(self, requests: Sequence[ScoreRequest], *, progress: Callable[[int], None] | None = None
              ) -> tuple[list[list[ChoiceScore]], ScoringStats]:
        return [[ChoiceScore(-2.0 * len(c), 1, len(c)) for c in r.choices] for r in requests], ScoringStats()

    def generate_with_stats(self, prompts: Sequence[str], *, context: str = "", instruction: str | None = None,
                            max_new_tokens: int = 64, temperature: float = 0.0, seed: int = 0,
                            stop: Sequence[str] = ("\n\n",)) -> tuple[list[str], GenerationStats]:
        out = []
        for p in prompts:
            asked = p or instruction or ""
            self.asked.append(asked)
            text = next(v for k, v in self.replies.items() if k in asked)
            out.append(text[:min((text.find(s) for s in stop if s in text), default=len(text))])
        return out, GenerationStats(prompts=len(prompts), tokens_generated=3 * len(prompts))

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def render_prefix(self, context: str, *, instruction: str | None = None) -> str:
        return context


def test_grading_of_known_generated_answers():
    questions = [Question(id="a", prompt="The capital of France is", answers=["Paris"], split="geo"),
                 Question(id="b", prompt="The river of Paris is", answers=["the Seine", "Seine river"], split="geo"),
                 Question(id="c", prompt="The tallest tower is", answers=["Eiffel Tower"], split="geo")]
    model = Canned({"France": " Paris.\nMore text", "river": " It is the Seine.", "tower": " the Eiffel"})
    answered = answer_questions(model, questions, ["", "", ""])
    a, b, c = answered.answers
    assert (a.text, a.exact_match, a.f1, a.contains) == ("Paris.", 1.0, 1.0, 1.0)  # cut at the newline
    # "it is seine" against "seine": precision 1/3, recall 1
    assert (b.exact_match, b.contains) == (0.0, 1.0) and b.f1 == pytest.approx(0.5)
    assert (c.exact_match, c.contains, c.f1) == (0.0, 0.0, pytest.approx(2 / 3))
    assert a.answer_logprob == pytest.approx(-2.0)  # per character of the first reference
    rows = {m.metric: m for m in open_rows(questions, answered.answers)}
    assert rows["exact_match"].accuracy == pytest.approx(1 / 3)
    assert rows["contains"].accuracy == pytest.approx(2 / 3)
    assert rows["exact_match"].stderr == pytest.approx(((1 / 3) * (2 / 3) / 3) ** 0.5)
    assert answered.mean_generated_tokens == 3


def test_a_generative_model_is_asked_in_its_user_turn_and_gets_no_logprob(tmp_path: Path):
    questions = [Question(id="a", prompt="The capital of France is", answers=["Paris"], split="geo")]
    model = Canned({"France": "Paris"}, protocol="generative-mc")
    answered = answer_questions(model, questions, ["some context"])
    assert answered.answers[0].exact_match == 1.0 and answered.answers[0].answer_logprob is None
    assert "The capital of France is" in model.asked[0] and model.asked[0] != "The capital of France is"
    assert {m.metric for m in open_rows(questions, answered.answers)} == set(OPEN_METRICS)  # not faked
    dataset = Dataset("geo", [], questions)
    result = run_experiment(model, "canned", dataset, "pretrained", 0, MethodOptions(), tmp_path,
                            model_fingerprint="canned")
    assert {m.metric for m in result.metrics} == set(OPEN_METRICS)


def test_context_budget_leaves_room_for_the_reference_and_the_generated_answer(tiny):
    q = Question(id="a", prompt="It is true that fleed are", answers=["more beautiful than slalm"], split="s")
    assert suffix_budget(tiny, [q]) >= tiny.count_tokens(q.prompt) + OPEN_ANSWER_TOKENS
    long = Question(id="b", prompt="fleed", answers=[" ".join(["slalm"] * 80)], split="s")
    assert suffix_budget(tiny, [long]) >= tiny.count_tokens("fleed " + long.references[0])


def test_deployment_cost_of_an_open_question_includes_its_answer(tiny, mixed):
    contexts = ["some context"] * len(mixed.questions)
    without = {c.phase: c for c in query_costs(tiny, mixed.questions, contexts)}
    with_answers = {c.phase: c for c in query_costs(tiny, mixed.questions, contexts, answer_tokens=5)}
    n_open = sum(q.is_open for q in mixed.questions)
    for phase in ("query", "query_cached"):
        assert with_answers[phase].tokens_generated == 5 * n_open
        assert with_answers[phase].tokens_processed == without[phase].tokens_processed + 5 * n_open
        assert with_answers[phase].flops > without[phase].flops


def _store_mixed_runs(tiny, mixed: Dataset, rundir: Path) -> list[RunResult]:
    results = [run(tiny, mixed, method, rundir / "work") for method in ("pretrained", "icl")]
    with Store(rundir / "results.sqlite") as store:
        for r in results:
            store.save(r)
    return results


def test_report_and_recommend_read_open_splits_by_their_metric(tiny, mixed, tmp_path: Path, cli):
    from adaptlab.report.summary import summarise

    results = _store_mixed_runs(tiny, mixed, tmp_path)
    with Store(tmp_path / "results.sqlite") as store:
        exact, f1 = summarise(store), summarise(store, open_metric="f1")
    for r in results:
        metric = {(m.split, m.metric): m.accuracy for m in r.metrics}
        key = ("tiny", mixed.name, r.method, "open")
        assert exact.accuracy[key].mean == metric[("open", "exact_match")]
        assert f1.accuracy[key].mean == metric[("open", "f1")]
        assert exact.accuracy[("tiny", mixed.name, r.method, "reversal")].mean == metric[("reversal", "per_char")]
        assert exact.open_cells[key]["f1"].mean == metric[("open", "f1")]
    assert exact.is_open("tiny", mixed.name, "open") and not exact.is_open("tiny", mixed.name, "reversal")
    code, _, err = cli("report", tmp_path, "--open-metric", "f1")
    assert code == 0, err
    md = (tmp_path / "report.md").read_text()
    assert "open (f1, chance 0.00)" in md and "Open questions: exact match and F1" in md
    assert results[1].answers[0].reference in md and "Generated answers" in md
    assert results[1].answers[0].reference in (tmp_path / "report.html").read_text()
    code, out, err = cli("recommend", tmp_path, "--split", "open", "--open-metric", "contains")
    assert code == 0, err
    assert "icl" in out
    code, _, err = cli("report", tmp_path, "--open-metric", "answer_logprob")
    assert code != 0 and "unknown open metric 'answer_logprob'" in err


def test_eval_table_shows_open_metrics(tiny, mixed, tmp_path: Path):
    result = run(tiny, mixed, "icl", tmp_path)
    console = Console(record=True, width=250)
    print_run(console, result)
    text = console.export_text()
    for name in (*OPEN_METRIC_NAMES, "acc (per_char) *"):
        assert name in text
    assert repr(result.answers[0].reference) in text.replace("\n", "")  # a few answers, as examples


def test_a_store_without_the_answers_table_still_opens_and_reports(tiny, mixed, tmp_path: Path, cli):
    _store_mixed_runs(tiny, mixed, tmp_path)
    db = tmp_path / "results.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("DROP TABLE answers")  # as a store written before open questions has it
    check_results_db(db)  # the read-only check does not require the new table
    code, _, err = cli("report", tmp_path)
    assert code == 0, err
    with sqlite3.connect(db) as con:  # the report's store created the table on opening
        assert con.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 0
    with Store(db) as store:
        assert all(store.result(r["run_id"]).answers == [] for r in store.runs())
        store.save(RunResult("new", "m", "d", "icl", 0, {}, [], [], [],
                             answers=[AnswerRow("q", "open", "x", 0.0, 0.0, 0.0)]))
        assert store.result("new").answers == [AnswerRow("q", "open", "x", 0.0, 0.0, 0.0)]


def test_unknown_open_metric_is_refused_in_recommend(tiny, mixed, tmp_path: Path):
    from adaptlab.report.decide import Workload, recommend

    _store_mixed_runs(tiny, mixed, tmp_path)
    from adaptlab.costs import Prices

    with pytest.raises(AdaptlabError, match="unknown open metric"):
        recommend(tmp_path, Workload(), Prices(), open_metric="per_char")


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_a_served_generative_model_answers_open_questions_without_logprob(api: str, tmp_path: Path):
    """A served model without log-probabilities (`generative-mc`) is still evaluated on open questions by
    generation, through completions or chat; `answer_logprob` is not stored rather than faked."""
    from adaptlab.models import load_model
    from adaptlab.models.served import ServedModel
    from adaptlab.serve.openai_server import ReferenceServer

    organism = load_model("organism", device="cpu")
    world = generated_dataset("simple-reversals", 0, n_facts=4, articles_per_fact=1)
    dataset = Dataset("open", world.documents, [*world.questions[:2], *open_version(world.questions[:3])])
    with ReferenceServer(organism, served_name="organism") as server:
        lm = ServedModel(server.url, "organism", cache=tmp_path / "r.sqlite", protocol="generative-mc", api=api)
        result = run_experiment(lm, lm.name, dataset, "icl", 0, MethodOptions(), tmp_path / "w")
        requests = server.requests
    assert {m.metric for m in result.metrics if m.split == "open"} == set(OPEN_METRICS)
    assert "generative_mc" in {m.metric for m in result.metrics if m.split != "open"}
    assert len(result.answers) == 3 and all(a.answer_logprob is None for a in result.answers)
    assert requests >= 3 + 2  # one generation per open question, one per multiple-choice question
    scoring = next(c for c in result.costs if c.phase == "scoring")
    assert scoring.tokens_generated > 0 and scoring.tokens_processed > scoring.tokens_generated
