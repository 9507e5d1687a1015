"""`adaptlab data synthesize`: parsing written question-answer pairs, the leak and triviality filter, multiple-choice
versions, questions that need two documents (pairs of documents that share a name or number), the generation cache,
and the command end to end (with a scripted writer and with the tiny model)."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from adaptlab.data.io import load_dataset, write_dataset
from adaptlab.data.records import Dataset, Document, Generated, Question
from adaptlab.errors import AdaptlabError
from adaptlab.models import prompts
from adaptlab.models.base import GenerationStats, LanguageModel
from adaptlab.training.synthesize import (
    COUNTS,
    PAIR_COUNTS,
    answer_kind,
    answer_request,
    is_right,
    parse_pairs,
    summary,
    synthesize,
)
from adaptlab.training.synthesize_pairs import entities, pair_writing_request, select_pairs

DOCS = [
    Document(id="d1", text="Mara Lind composed Ocean Suite in 1987 in Oslo."),
    Document(id="d2", text="The river Tamsa flows through the town of Brell."),
    Document(id="d3", text="Joren Vask painted the Blue Hall murals."),
]
# What the writer replies after the prompt "Q:", per document.
WRITES = {
    "d1": " Who composed Ocean Suite?\nA: Mara Lind\nQ: In which year was Ocean Suite composed?\nA: 1987.\n"
          "Q: Where?\nA: Oslo\n",  # the third question is too short
    "d2": " Which town does the river Tamsa flow through?\nA: Brell\n"
          "Q: Which river flows through Brell?\n"  # no answer
          "Q: What is the capital of France?\nA: Paris\n",
    "d3": " Who painted the Blue Hall murals?\nA: Joren Vask\n"
          "A: an answer without a question\n"
          "Q: Who composed Ocean Suite?\nA: Mara Lind\n"  # asked before (d1)
          "Q: What did Joren Vask paint?\nA: the Blue Hall murals, a set of large paintings in the old town hall "
          "of a city far away from here\n",  # too long to grade
}
WITH_DOC = {
    "Who composed Ocean Suite?": "Mara Lind",
    "In which year was Ocean Suite composed?": "It was 1987",
    "Which town does the river Tamsa flow through?": "Brell",
    "What is the capital of France?": "Paris",
    "Who painted the Blue Hall murals?": "I am not sure",
}
WITHOUT = {"What is the capital of France?": "Paris", "Who composed Ocean Suite?": "Beethoven"}


class ScriptedModel(LanguageModel):
    """A base model whose writing and answers are tables: the reply to a document is `WRITES[its id]`; a question
    is answered from `WITH_DOC` when it comes after a context, from `WITHOUT` when alone ("I do not know" when
    not listed). Counts the generations it makes."""

    name = "scripted"
    context_window = 4096
    n_params = 0

    def __init__(self) -> None:
        self.generated = 0
        self.doc_ids = {d.text: d.id for d in DOCS}

    def score(self, requests, *, progress=None):
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def render_prefix(self, context: str, *, instruction: str | None = None) -> str:
        return prompts.render_prefix(context, instruction=instruction)

    def generate_with_stats(self, prompt_list, *, context="", instruction=None, max_new_tokens=64, temperature=0.0,
                            seed=0, stop=("\n\n",)):
        outs = []
        for p in prompt_list:
            self.generated += 1
            if p == prompts.SYNTH_PROMPT:
                outs.append(WRITES[self.doc_ids[context]])
            else:
                question = re.fullmatch(r"Question: (.*)\nAnswer:", p).group(1)
                answer = (WITH_DOC if context else WITHOUT).get(question, "I do not know")
                outs.append(f" {answer}")
        return outs, GenerationStats(prompts=len(prompt_list), tokens_generated=len(outs))


@pytest.fixture
def dataset() -> Dataset:
    return Dataset("notes", DOCS, [Question(id="q0", prompt="Who wrote it?", answers=["Mara Lind"], split="test")])


def source_folder(tmp_path: Path, dataset: Dataset) -> Path:
    folder = tmp_path / "notes"
    write_dataset(folder, dataset.name, "1", 0, Generated(dataset.documents, dataset.questions))
    return folder


# ----------------------------------------------------------------------------- parsing


def test_well_formed_pairs_parse_in_every_usual_layout():
    text = ("Here are the questions.\n1. Q: Who composed Ocean Suite?\n   A: Mara Lind.\n\n"
            "- **Q:** In which year was it composed?\n- **A:** 1987\n"
            "Question 3: Where was Ocean Suite composed? Answer: Oslo\n"
            "q: Which composer wrote Ocean Suite?\na:   Mara   Lind\n")
    pairs, bad = parse_pairs(text)
    assert [(p.question, p.answer) for p in pairs] == [
        ("Who composed Ocean Suite?", "Mara Lind"),
        ("In which year was it composed?", "1987"),
        ("Where was Ocean Suite composed?", "Oslo"),
        ("Which composer wrote Ocean Suite?", "Mara Lind"),
    ]
    assert bad == Counter()


def test_malformed_pairs_are_dropped_and_counted_by_reason():
    text = ("A: an answer before any question\n"
            "Q: Who composed Ocean Suite?\n"  # followed by another question: no answer
            "Q: Who?\nA: Mara Lind\n"  # too short
            "Q: Who composed the piece called Ocean Suite?\nA: ...\n"  # empty once normalised
            "Q: Which city is Mara Lind from?\nA: Mara Lind\n"  # the question states its answer
            "Q: What did Mara Lind write?\nA: " + "a very long answer " * 5 + "\n"
            "Q: What did Mara Lind compose?\nA: Ocean Suite\n"
            "Q: Which year")  # cut off
    pairs, bad = parse_pairs(text)
    assert [(p.question, p.answer) for p in pairs] == [("What did Mara Lind compose?", "Ocean Suite")]
    assert bad == Counter(no_question=1, no_answer=2, question_too_short=1, empty_answer=1, answer_in_question=1,
                          answer_too_long=1)


def test_a_repeated_question_is_a_duplicate_within_and_across_generations():
    seen: set[str] = set()
    pairs, bad = parse_pairs("Q: Who composed Ocean Suite?\nA: Mara Lind\nQ: who composed Ocean Suite\nA: Lind\n",
                             seen)
    assert len(pairs) == 1 and bad == Counter(duplicate=1)
    pairs, bad = parse_pairs("Q: Who composed  the Ocean Suite?\nA: Mara Lind\n", seen)  # articles ignored
    assert pairs == [] and bad == Counter(duplicate=1)


def test_grading_and_answer_kinds():
    assert is_right("It was 1987", "1987") and is_right("Mara Lind", "Lind")  # contained; F1 2/3
    assert not is_right("Beethoven", "Mara Lind") and not is_right("", "Oslo")
    assert [answer_kind(a) for a in ("1987", "Mara Lind", "Bank of England", "blue murals")] == [
        "number", "name", "name", "phrase"]


def test_the_filter_asks_a_question_exactly_as_evaluation_will():
    from adaptlab.evaluate_open import generation_requests

    base, served = ScriptedModel(), ScriptedModel()
    served.protocol = "generative-mc"
    for lm in (base, served):
        stored = Question(id="q", prompt="Question: Who composed Ocean Suite?\nAnswer:", answers=["Mara Lind"],
                          split="rephrase")
        assert answer_request(lm, "doc", "Who composed Ocean Suite?") == generation_requests(lm, [stored], ["doc"])[0]


def test_a_reply_that_repeats_the_q_label_is_read_the_same(dataset, tmp_path: Path, monkeypatch):
    monkeypatch.setitem(WRITES, "d1", "Q:" + WRITES["d1"])
    result = synthesize(ScriptedModel(), dataset, tmp_path / "cache.sqlite")
    assert result.counts["written"] == 10 and result.counts["kept"] == 3


# ----------------------------------------------------------------------------- filtering, tagging, choices


def test_only_questions_answered_with_the_document_and_not_without_are_kept(dataset, tmp_path: Path):
    result = synthesize(ScriptedModel(), dataset, tmp_path / "cache.sqlite", per_document=3)
    assert {c: result.counts[c] for c in COUNTS} == {
        "written": 10, "dropped_malformed": 5, "dropped_extra": 0, "dropped_unanswerable": 1, "dropped_trivial": 1,
        "kept": 3}
    assert result.malformed == Counter(question_too_short=1, no_answer=1, no_question=1, duplicate=1,
                                       answer_too_long=1)
    assert [(q.id, q.prompt, q.answers, q.split, q.source_fact_ids) for q in result.questions] == [
        ("d1-q1", "Question: Who composed Ocean Suite?\nAnswer:", ["Mara Lind"], "rephrase", ["d1"]),
        ("d1-q2", "Question: In which year was Ocean Suite composed?\nAnswer:", ["1987"], "rephrase", ["d1"]),
        ("d2-q1", "Question: Which town does the river Tamsa flow through?\nAnswer:", ["Brell"], "rephrase", ["d2"]),
    ]


def test_pairs_beyond_the_number_asked_for_are_counted_as_extra(dataset, tmp_path: Path):
    result = synthesize(ScriptedModel(), dataset, tmp_path / "cache.sqlite", per_document=1)
    # d1 and d2 each gave two well-formed pairs: the first is checked, the second is extra.
    assert result.counts["dropped_extra"] == 2
    assert result.counts["kept"] == 2 and result.counts["dropped_unanswerable"] == 1
    assert sum(result.counts[c] for c in COUNTS[1:]) == result.counts["written"]


def test_multiple_choice_versions_take_distractors_of_the_same_kind_from_other_documents(dataset, tmp_path: Path):
    result = synthesize(ScriptedModel(), dataset, tmp_path / "cache.sqlite", choices=3, seed=1)
    mc = {q.id: q for q in result.questions if q.split == "rephrase_mc"}
    assert sorted(mc) == ["d1-q1-mc", "d1-q2-mc", "d2-q1-mc"]
    references = {f"{q.id}-mc": q.answers[0] for q in result.questions if q.split == "rephrase"}
    for qid, q in mc.items():
        assert len(q.choices) == 3 and q.choices[q.answer] == references[qid]
    # Distractors come from the other documents' answers: for d1's questions, never d1's own answers.
    for qid in ("d1-q1-mc", "d1-q2-mc"):
        assert set(mc[qid].choices) - {references[qid]} <= {"Brell", "Paris", "Joren Vask"}
    # Brell (a name, d2): the other documents' names, Mara Lind and Joren Vask, not the number 1987.
    assert set(mc["d2-q1-mc"].choices) == {"Brell", "Mara Lind", "Joren Vask"}
    again = synthesize(ScriptedModel(), dataset, tmp_path / "cache.sqlite", choices=3, seed=1)
    assert again.questions == result.questions  # the same seed: the same distractors in the same order
    orders = {tuple(tuple(q.choices) for q in synthesize(ScriptedModel(), dataset, tmp_path / "cache.sqlite", choices=3,
                                                  seed=s).questions if q.choices) for s in range(6)}
    assert len(orders) > 1  # the seed shuffles


def test_too_few_distractors_means_no_multiple_choice_version(dataset, tmp_path: Path):
    result = synthesize(ScriptedModel(), dataset, tmp_path / "cache.sqlite", choices=5)
    assert result.counts["mc_skipped"] == 3 and result.counts["mc_written"] == 0
    assert all(q.split == "rephrase" for q in result.questions)


def test_the_cache_makes_a_rerun_generate_nothing(dataset, tmp_path: Path):
    first_model, second_model = ScriptedModel(), ScriptedModel()
    first = synthesize(first_model, dataset, tmp_path / "cache.sqlite")
    second = synthesize(second_model, dataset, tmp_path / "cache.sqlite")
    assert first_model.generated == 3 + 2 * 5  # a request per document, two answers per checked question
    assert second_model.generated == 0 and second.stats.prompts == 0
    assert second.questions == first.questions and second.counts == first.counts
    third_model = ScriptedModel()
    synthesize(third_model, dataset, tmp_path / "cache.sqlite", seed=1)
    assert third_model.generated == 13  # the seed is part of the key


# ----------------------------------------------------------------------------- the command


def test_synthesize_command_writes_a_valid_dataset_with_its_counts(dataset, tmp_path: Path, cli, monkeypatch):
    monkeypatch.setattr("adaptlab.models.load_model", lambda spec, **kw: ScriptedModel())
    source = source_folder(tmp_path, dataset)
    out = tmp_path / "questions"
    code, stdout, err = cli("data", "synthesize", source, "--model", "scripted-writer", "--out", out,
                            "--choices", "3", "--cache", tmp_path / "cache.sqlite")
    assert code == 0, err
    assert "10 written: 3 kept, 5 malformed, 0 extra, 1 unanswerable, 1 trivial" in stdout
    written = load_dataset(out)
    assert [d.model_dump() for d in written.documents] == [d.model_dump() for d in DOCS]
    assert {s: len(written.split(s)) for s in written.splits} == {"rephrase": 3, "rephrase_mc": 3}
    params = written.manifest.params
    assert params["source_digest"] == load_dataset(source).digest()
    assert params["writer_model"] == "scripted-writer" and len(str(params["writer_fingerprint"])) == 16
    assert (params["kept"], params["dropped_trivial"], params["written"]) == (3, 1, 10)
    detail = json.loads((out / "synthesis.json").read_text())
    assert detail["malformed"]["duplicate"] == 1 and detail["counts"]["mc_written"] == 3
    # A rerun over its own output is allowed; a foreign non-empty folder is refused without --force.
    assert cli("data", "synthesize", source, "--model", "scripted-writer", "--out", out,
               "--cache", tmp_path / "cache.sqlite")[0] == 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "questions.jsonl").write_text("{}\n")
    code, _, err = cli("data", "synthesize", source, "--model", "scripted-writer", "--out", foreign,
                       "--cache", tmp_path / "cache.sqlite")
    assert code == 2 and "--force" in err and (foreign / "questions.jsonl").read_text() == "{}\n"


def test_synthesize_with_the_tiny_model_counts_add_up_and_nothing_survived_writes_nothing(dataset, tmp_path: Path,
                                                                                        cli):
    source = source_folder(tmp_path, dataset)
    out = tmp_path / "questions"
    args = ("data", "synthesize", source, "--model", "tiny", "--out", out, "--per-document", "2",
            "--max-new-tokens", "48", "--cache", tmp_path / "cache.sqlite")
    code, _, err = cli(*args)
    # The tiny model's weights are random: it writes no well-formed pair, so nothing survives.
    assert code == 2
    match = re.search(r"no question survived \((\d+) written: (\d+) kept, (\d+) malformed, (\d+) extra, "
                      r"(\d+) unanswerable, (\d+) trivial\); nothing written", err)
    assert match, err
    written, *parts = map(int, match.groups())
    assert parts[0] == 0 and written == sum(parts) and written >= len(DOCS)
    assert not out.exists() and err.count("error:") == 1


def test_synthesize_refuses_a_dataset_without_documents(tmp_path: Path):
    empty = Dataset("empty", [], [])
    with pytest.raises(AdaptlabError, match="no documents"):
        synthesize(ScriptedModel(), empty, tmp_path / "cache.sqlite")


# ----------------------------------------------------------------------------- questions that need two documents

# "Ocean Suite" links the first two documents; the third shares nothing with them ("The" is a stop-word).
PAIR_DOCS = [
    Document(id="suite", text="Mara Lind composed Ocean Suite in 1987 in Oslo."),
    Document(id="hall", text="Ocean Suite was first played in the Blue Hall of Brell."),
    Document(id="river", text="The river Tamsa flows through the town of Dunmore."),
]
# What the writer replies after "Q:", per set of documents in its context.
PAIR_WRITES = {
    ("suite",): " Who composed Ocean Suite?\nA: Mara Lind\n",
    ("hall",): " Where was Ocean Suite first played?\nA: the Blue Hall of Brell\n",
    ("river",): " Which town does the river Tamsa flow through?\nA: Dunmore\n",
    ("suite", "hall"): " Who composed the piece first played in the Blue Hall of Brell?\nA: Mara Lind\n"  # needs both
                       "Q: In which year was Ocean Suite composed?\nA: 1987\n"  # the first document is enough
                       "Q: What is the capital of France?\nA: Paris\n"  # trivial
                       "Q: Where?\nA: Brell\n"  # malformed: too short
                       "Q: Who conducted Ocean Suite in the Blue Hall?\nA: Ivo Sand\n",  # neither document says
}
# A question is answered right when every document it needs is in the context: (the documents, the answer).
NEEDS = {
    "Who composed Ocean Suite?": ({"suite"}, "Mara Lind"),
    "Where was Ocean Suite first played?": ({"hall"}, "the Blue Hall of Brell"),
    "Which town does the river Tamsa flow through?": ({"river"}, "Dunmore"),
    "Who composed the piece first played in the Blue Hall of Brell?": ({"suite", "hall"}, "Mara Lind"),
    "In which year was Ocean Suite composed?": ({"suite"}, "1987"),
    "What is the capital of France?": (set(), "Paris"),
}


class TwoDocumentModel(ScriptedModel):
    """A writer that sees which documents are in its context: it writes `PAIR_WRITES[their ids]` and answers a
    question right only when the documents `NEEDS` lists for it are all there ("I do not know" otherwise)."""

    def __init__(self) -> None:
        super().__init__()
        self.pair_instructions: list[str] = []

    def generate_with_stats(self, prompt_list, *, context="", instruction=None, max_new_tokens=64, temperature=0.0,
                            seed=0, stop=("\n\n",)):
        present = tuple(d.id for d in PAIR_DOCS if d.text in context)
        outs = []
        for p in prompt_list:
            self.generated += 1
            if p == prompts.SYNTH_PROMPT:
                if len(present) == 2:
                    self.pair_instructions.append(instruction)
                outs.append(PAIR_WRITES[present])
            else:
                question = re.fullmatch(r"Question: (.*)\nAnswer:", p).group(1)
                needed, answer = NEEDS.get(question, ({"nowhere"}, ""))
                outs.append(f" {answer}" if needed <= set(present) else " I do not know")
        return outs, GenerationStats(prompts=len(prompt_list), tokens_generated=len(outs))


@pytest.fixture
def linked() -> Dataset:
    return Dataset("linked", PAIR_DOCS, [])


def test_pairs_share_a_name_or_number_and_a_document_that_shares_nothing_is_in_none():
    pairs = select_pairs(PAIR_DOCS, 5, seed=0)
    assert [(p.first.id, p.second.id, p.shared) for p in pairs] == [
        ("suite", "hall", ("Ocean", "Ocean Suite", "Suite"))]
    assert select_pairs(PAIR_DOCS, 0, seed=0) == []
    # Stop-words and a sentence's first word that the documents also use in lower case are no entities.
    text = "In 1,987 the painter Joren Vask's brother moved to Dunmore. Despite the rain, it was fine."
    assert set(entities(text, frozenset({"despite"}))) == {"1987", "joren vask", "joren", "vask", "dunmore"}
    unlinked = [Document(id="a", text="The town is old. It is quiet."),
                Document(id="b", text="The river is long. It is cold, despite the sun."),
                Document(id="c", text="Despite the rain, the fair was held.")]
    assert select_pairs(unlinked, 5, seed=0) == []
    request = pair_writing_request(pairs[0], 2)
    assert request.context == f"{PAIR_DOCS[0].text}\n\n{PAIR_DOCS[1].text}" and request.prompt == "Q:"
    assert request.instruction == prompts.PAIR_INSTRUCTION.format(n=2, shared='"Ocean Suite"')


def test_pair_selection_is_drawn_by_the_seed_and_covers_documents_not_used_yet_first():
    docs = [Document(id=f"d{i}", text=f"Ship {name} sailed to Brell.") for i, name in enumerate("ABCDEF")]
    draws = {s: [(p.first.id, p.second.id) for p in select_pairs(docs, 3, seed=s)] for s in range(8)}
    for s, draw in draws.items():
        assert draw == [(p.first.id, p.second.id) for p in select_pairs(docs, 3, seed=s)]  # the same seed
        assert sorted(i for pair in draw for i in pair) == [d.id for d in docs]  # three pairs, six documents
        assert draw == sorted(draw) and all(a < b for a, b in draw)  # dataset order
    assert len({tuple(d) for d in draws.values()}) > 1  # the seed draws
    assert len(select_pairs(docs, 20, seed=0)) == 15  # every pair, when more are asked for than there are


def test_a_question_about_two_documents_is_kept_only_when_it_needs_both(linked, tmp_path: Path):
    model = TwoDocumentModel()
    result = synthesize(model, linked, tmp_path / "cache.sqlite", per_document=5, pairs=3)
    assert {c: result.counts[c] for c in COUNTS} == {
        "written": 3, "dropped_malformed": 0, "dropped_extra": 0, "dropped_unanswerable": 0, "dropped_trivial": 0,
        "kept": 3}
    assert {c: result.counts[c] for c in PAIR_COUNTS} == {
        "two_documents_pairs": 1, "two_documents_written": 5, "two_documents_dropped_malformed": 1,
        "two_documents_dropped_extra": 0, "two_documents_dropped_unanswerable": 1,
        "two_documents_dropped_one_document_enough": 1, "two_documents_dropped_trivial": 1, "two_documents_kept": 1}
    assert result.pair_malformed == Counter(question_too_short=1) and result.malformed == Counter()
    assert model.pair_instructions == [prompts.PAIR_INSTRUCTION.format(n=5, shared='"Ocean Suite"')]
    assert [(q.id, q.split, q.source_fact_ids, q.answers) for q in result.questions] == [
        ("suite-q1", "rephrase", ["suite"], ["Mara Lind"]),
        ("hall-q1", "rephrase", ["hall"], ["the Blue Hall of Brell"]),
        ("river-q1", "rephrase", ["river"], ["Dunmore"]),
        ("suite+hall-p1", "two_documents", ["suite", "hall"], ["Mara Lind"]),
    ]
    assert result.questions[-1].prompt == ("Question: Who composed the piece first played in the Blue Hall of "
                                           "Brell?\nAnswer:")
    assert "; two documents (1 pair): 5 written: 1 kept, 1 malformed, 0 extra, 1 unanswerable, " \
           "1 one document enough, 1 trivial" in summary(result.counts)
    # A request per document and per pair; each checked question of a pair is answered four times.
    assert model.generated == 3 + 3 * 2 + 1 + 4 * 4
    again = TwoDocumentModel()
    rerun = synthesize(again, linked, tmp_path / "cache.sqlite", per_document=5, pairs=3)
    assert again.generated == 0 and rerun.questions == result.questions and rerun.counts == result.counts


def test_no_pairs_leaves_every_count_and_question_unchanged(dataset, linked, tmp_path: Path):
    off = synthesize(ScriptedModel(), dataset, tmp_path / "cache.sqlite", pairs=0)
    assert dict(off.counts) == {"written": 10, "dropped_malformed": 5, "dropped_extra": 0,
                                "dropped_unanswerable": 1, "dropped_trivial": 1, "kept": 3}
    assert [q.id for q in off.questions] == ["d1-q1", "d1-q2", "d2-q1"]
    assert not any(c.startswith("two_documents") for c in off.counts) and "two documents" not in summary(off.counts)
    with_pairs = synthesize(ScriptedModel(), dataset, tmp_path / "cache.sqlite", pairs=2)  # DOCS share nothing
    assert with_pairs.counts["two_documents_pairs"] == 0 and with_pairs.questions == off.questions
    plain = synthesize(TwoDocumentModel(), linked, tmp_path / "cache.sqlite", per_document=5)
    paired = synthesize(TwoDocumentModel(), linked, tmp_path / "cache.sqlite", per_document=5, pairs=1)
    assert {c: paired.counts[c] for c in COUNTS} == dict(plain.counts)
    assert [q for q in paired.questions if q.split == "rephrase"] == plain.questions


def test_synthesize_command_with_pairs_writes_the_two_document_split_and_its_counts(linked, tmp_path: Path, cli,
                                                                                   monkeypatch):
    monkeypatch.setattr("adaptlab.models.load_model", lambda spec, **kw: TwoDocumentModel())
    source = source_folder(tmp_path, linked)
    out = tmp_path / "questions"
    code, stdout, err = cli("data", "synthesize", source, "--model", "scripted-writer", "--out", out,
                            "--per-document", "5", "--pairs", "2", "--cache", tmp_path / "cache.sqlite")
    assert code == 0, err
    assert ("two documents (1 pair): 5 written: 1 kept, 1 malformed, 0 extra, 1 unanswerable, 1 one document "
            "enough, 1 trivial") in " ".join(stdout.split())
    written = load_dataset(out)
    assert {s: len(written.split(s)) for s in written.splits} == {"rephrase": 3, "two_documents": 1}
    params = written.manifest.params
    assert (params["pairs"], params["two_documents_kept"], params["two_documents_dropped_one_document_enough"]) == (
        2, 1, 1)
    detail = json.loads((out / "synthesis.json").read_text())
    assert detail["two_documents_malformed"] == {"question_too_short": 1}
    assert detail["counts"]["two_documents_written"] == 5 and detail["pairs"] == 2
