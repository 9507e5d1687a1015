"""The served backend against a real OpenAI-compatible HTTP server on 127.0.0.1 (`ReferenceServer`, which serves
the same transformers model with exact prompt log-probabilities): agreement with the in-process backend, the
server self-check, generation, augmentation by a served augmenter, the generative multiple-choice protocol, the
API key, specs, and the one-line refusals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adaptlab.costs import TokenPrices
from adaptlab.data.records import Dataset
from adaptlab.errors import AdaptlabError
from adaptlab.evaluate import METRICS, predict, score_questions
from adaptlab.methods import MethodOptions, get_method
from adaptlab.models import ScoreRequest, load_model
from adaptlab.models.base import TrainableModel
from adaptlab.models.prompts import multiple_choice_prompt, parse_letter
from adaptlab.models.served import ServedModel
from adaptlab.models.served_next_token import positions
from adaptlab.models.served_spec import parse_spec
from adaptlab.options import AugmentOptions
from adaptlab.serve.openai_server import ReferenceServer
from adaptlab.training.augment import augment
from conftest import generated_dataset

# The tolerance: the served protocol must choose the same answer as the in-process backend on at least
# 95% of questions (both compute exact log-probabilities here, so in practice they agree on all of them).
AGREEMENT = 0.95
KEY = "sk-test-not-a-real-key-7f3a"


@pytest.fixture(scope="module")
def organism():
    return load_model("organism", device="cpu")


@pytest.fixture(scope="module")
def server(organism):
    with ReferenceServer(organism, served_name="organism") as srv:
        yield srv


@pytest.fixture
def served(server, tmp_path: Path) -> ServedModel:
    return ServedModel(server.url, "organism", cache=tmp_path / "responses.sqlite", concurrency=2)


@pytest.fixture(scope="module")
def reversals() -> Dataset:
    return generated_dataset("simple-reversals", 0, n_facts=12, articles_per_fact=1)


def test_spec_names_server_model_and_options(server, organism, tmp_path: Path, monkeypatch):
    url, options = parse_spec("openai:http://127.0.0.1:8011/v1/#model=m,concurrency=8,prices=0.15/0.075/0.6,"
                              "n_params=135e6")
    assert url == "http://127.0.0.1:8011/v1"
    assert options == {"model": "m", "concurrency": 8, "prices": TokenPrices(0.15, 0.075, 0.6), "n_params": 135_000_000}
    assert parse_spec("openai:http://h:1/v1#served-name")[1] == {"model": "served-name"}
    with pytest.raises(AdaptlabError, match="unknown option 'colour'"):
        parse_spec("openai:http://h:1/v1#colour=red")
    with pytest.raises(AdaptlabError, match="expected openai:http"):
        parse_spec("openai:127.0.0.1:8011")
    monkeypatch.setenv("ADAPTLAB_CACHE", str(tmp_path))
    lm = load_model(f"openai:{server.url}")  # the one served model is found by listing /v1/models
    assert isinstance(lm, ServedModel) and not isinstance(lm, TrainableModel)
    assert lm.name == f"openai:{server.url}#organism"
    assert lm.context_window == organism.context_window  # the server's max_model_len
    lm = load_model(f"openai:{server.url}#tokenizer=organism")
    assert lm.count_tokens("The cat sat.") == load_model("organism").count_tokens("The cat sat.")


def test_served_scoring_agrees_with_in_process(organism, served, reversals, tmp_path: Path):
    """ICL on the organism, in-process (shared prefix cache) vs through the server (one full forward per choice)."""
    prepared = get_method("icl").prepare(organism, reversals, seed=0, workdir=tmp_path)
    served_prepared = get_method("icl").prepare(served, reversals, seed=0, workdir=tmp_path)
    assert served_prepared.contexts == prepared.contexts  # the server's token counts fit the same documents
    local, _ = score_questions(organism, reversals.questions, prepared.contexts)
    remote, stats = score_questions(served, reversals.questions, prepared.contexts)
    n = len(reversals.questions)
    assert n >= 20
    for metric in METRICS:
        same = sum(predict(a, metric) == predict(b, metric) for a, b in zip(local, remote, strict=True))
        assert same / n >= AGREEMENT, (metric, same, n)
    pairs = [(x, y) for a, b in zip(local, remote, strict=True) for x, y in zip(a, b, strict=True)]
    diff = max(abs(x.logprob - y.logprob) for x, y in pairs)
    assert diff < 1e-3  # float32 on both sides: only the order of operations differs
    assert [[x.n_tokens for x in a] for a in local] == [[x.n_tokens for x in b] for b in remote]
    context_tokens = organism.count_tokens(organism.render_prefix(prepared.contexts[0]))
    assert stats.tokens_prefilled >= context_tokens * sum(len(q.choices) for q in reversals.questions)
    assert stats.tokens_reused == 0  # nothing is shared through a server


def test_scoring_falls_back_to_the_echoed_prompt_without_next_token_logprobs(server, tmp_path: Path):
    """The reference server gives no next-token log-probabilities of named ids (it refuses a list of prompts):
    `auto` scores through the echoed prompt; an explicit next-token route is refused in one line."""
    assert ServedModel(server.url, "organism", cache=tmp_path / "r.sqlite").scoring_route() == "echo"
    forced = ServedModel(server.url, "organism", cache=tmp_path / "r.sqlite", scoring="next-token")
    with pytest.raises(AdaptlabError, match="scoring=next-token needs next-token log-probabilities") as e:
        forced.score([ScoreRequest("", "The cat", ("sat", "ran"))])
    assert server.url in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(AdaptlabError, match="unknown scoring 'fast'"):
        ServedModel(server.url, "organism", cache=False, scoring="fast")


def test_next_token_positions_count_a_straddling_token_with_the_choice():
    # (ids before, token) for each choice token after the head's ids; a merged last token belongs to the choice
    assert positions([1, 2, 3], [1, 2, 3, 4, 5]) == ([((1, 2, 3), 4), ((1, 2, 3, 4), 5)], False)
    assert positions([1, 2, 3], [1, 2, 9, 5]) == ([((1, 2), 9), ((1, 2, 9), 5)], True)


def test_self_check_passes_a_correct_server_and_refuses_a_wrong_one(organism, served, tmp_path: Path):
    assert served.self_check()["max_abs_diff"] < 1e-3
    with ReferenceServer(organism, served_name="organism", wrong_prompt_logprobs=True) as wrong:
        bad = ServedModel(wrong.url, "organism", cache=tmp_path / "wrong.sqlite")
        with pytest.raises(AdaptlabError, match="disagree with its own generation-time") as e:
            bad.score([ScoreRequest("", "The cat", ("sat", "ran"))])
        assert wrong.url in str(e.value) and "\n" not in str(e.value)
        assert bad.generate(["The cat"], max_new_tokens=4) == served.generate(["The cat"], max_new_tokens=4)


def test_generation_matches_the_served_model_and_keeps_order(organism, served, server):
    prompts = [f"The {w} is" for w in ("cat", "dog", "bird", "fish", "cow")]
    texts, stats = served.generate_with_stats(prompts, context="Some context.", max_new_tokens=6, stop=())
    assert len(texts) == len(prompts) and all(isinstance(t, str) for t in texts)
    direct = [ServedModel(server.url, "organism", cache=False, concurrency=1).generate([p], context="Some context.",
                                                                                    max_new_tokens=6, stop=())[0]
              for p in prompts]
    assert texts == direct  # concurrency does not reorder
    assert stats.prompts == 5 and stats.tokens_prefilled > 0 and 0 < stats.tokens_generated <= 5 * 6
    cut = served.generate(prompts[:1], max_new_tokens=12, stop=(" ",))[0]
    assert " " not in cut


def test_costs_come_from_usage_and_the_price_table(server, tmp_path: Path):
    prices = TokenPrices(input=1.0, cached_input=0.5, output=2.0)
    lm = ServedModel(server.url, "organism", cache=False, prices=prices, n_params=1000)
    _, stats = lm.generate_with_stats(["The cat"], max_new_tokens=5, stop=())
    assert stats.dollars == pytest.approx((stats.tokens_prefilled * 1.0 + stats.tokens_generated * 2.0) / 1e6)
    assert stats.flops == 2.0 * 1000 * (stats.tokens_prefilled + stats.tokens_generated)
    assert ServedModel(server.url, "organism", cache=False).generate_with_stats(["The cat"])[1].flops == 0


def test_served_augmenter_writes_augmentations_for_a_local_model(organism, served, reversals, tmp_path: Path):
    options = AugmentOptions(max_new_tokens_local=24, max_new_tokens_global=24, global_max_documents=2)
    local = augment(organism, reversals, ("local",), tmp_path / "a.sqlite", seed=0, options=options)
    # The local folder's adaptlab.json says how to prompt the organism for augmentations; `tokenizer=` brings it.
    served = ServedModel(served.base_url, "organism", tokenizer="organism", cache=tmp_path / "r.sqlite")
    remote = augment(served, reversals, ("local",), tmp_path / "b.sqlite", seed=0, options=options)
    assert remote.counts["generated"] > 0
    assert remote.cost is not None and remote.cost.tokens_generated > 0
    # Same model, same prompts, greedy: the server writes what the in-process backend writes.
    assert [d.text for d in remote.documents] == [d.text for d in local.documents]


def test_aug_ft_with_a_served_augmenter(organism, server, reversals, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ADAPTLAB_CACHE", str(tmp_path / "cache"))
    spec = f"openai:{server.url}#organism"
    options = MethodOptions(augmenter=spec, finetune={"steps": 2, "batch_size": 2},
                            augment={"max_new_tokens_local": 16})
    prepared = get_method("aug-local-ft", options).prepare(organism, reversals, seed=0, workdir=tmp_path / "w")
    assert prepared.info["augmenter"] == spec
    assert prepared.info["augmentation"]["generated"] > 0
    assert isinstance(prepared.model, TrainableModel)


def test_finetuning_a_served_model_is_a_one_line_error(served, reversals, tmp_path: Path):
    for method in ("ft", "aug-local-ft"):
        with pytest.raises(AdaptlabError, match="needs the model's weights") as e:
            get_method(method, MethodOptions(finetune={"steps": 1})).prepare(served, reversals, seed=0,
                                                                            workdir=tmp_path)
        assert "augmenter" in str(e.value) and "\n" not in str(e.value)


def test_api_key_is_sent_and_never_stored_or_shown(organism, tmp_path: Path, monkeypatch):
    with ReferenceServer(organism, served_name="organism", api_key=KEY) as srv:
        monkeypatch.delenv("MY_KEY", raising=False)
        with pytest.raises(AdaptlabError, match="HTTP 401") as e:
            ServedModel(srv.url, "organism", key_env="MY_KEY", cache=tmp_path / "r.sqlite").generate(["x"])
        assert KEY not in str(e.value)
        monkeypatch.setenv("MY_KEY", KEY)
        lm = ServedModel(srv.url, "organism", key_env="MY_KEY", cache=tmp_path / "r.sqlite")
        # the key opens the server: greedy, it writes what the in-process model writes (the server detokenizes the
        # new tokens after the prompt's, as servers do, so its text keeps the space that starts it)
        (text,) = lm.generate(["The cat"], max_new_tokens=3)
        (local,) = organism.generate(["The cat"], max_new_tokens=3)
        assert text.strip() and text.lstrip() == local.lstrip()
        assert srv.auth_seen[-1] == f"Bearer {KEY}"
        assert KEY not in repr(vars(lm)) and KEY not in repr(vars(lm.client)) and KEY not in lm.name
        assert KEY.encode() not in (tmp_path / "r.sqlite").read_bytes()


def test_generative_multiple_choice_is_its_own_protocol(organism, server, tmp_path: Path):
    assert parse_letter("B", 4) == 1 and parse_letter("(c) because", 4) == 2 and parse_letter("Answer: D.", 4) == 3
    assert parse_letter("none of them", 4) is None and parse_letter("E", 4) is None
    assert "A. The cat sat" in multiple_choice_prompt("The cat", ["sat", "ran"])
    for api in ("completions", "chat"):
        lm = ServedModel(server.url, "organism", cache=tmp_path / "r.sqlite", protocol="generative-mc", api=api)
        with pytest.raises(AdaptlabError, match="protocol=generative-mc"):
            lm.score([ScoreRequest("", "The cat", ("sat", "ran"))])
        picks, stats = lm.choose([ScoreRequest("", "The cat", ("sat", "ran")), ScoreRequest("x", "A", ("b", "c"))])
        assert len(picks) == 2 and all(p in (None, 0, 1) for p in picks) and stats.tokens_prefilled > 0
    with pytest.raises(AdaptlabError, match="no prompt log-probabilities"):
        ServedModel(server.url, "organism", api="chat", cache=False)


def test_generative_mc_run_is_stored_under_its_own_metric(server, reversals, tmp_path: Path):
    from adaptlab.evaluate import GENERATIVE_METRIC
    from adaptlab.experiment import run_experiment

    lm = ServedModel(server.url, "organism", cache=tmp_path / "r.sqlite", protocol="generative-mc")
    result = run_experiment(lm, lm.name, reversals, "icl", 0, MethodOptions(), tmp_path / "w")
    assert {m.metric for m in result.metrics} == {GENERATIVE_METRIC}
    assert result.scores == []  # no log-likelihoods to store
    assert all(0 <= m.accuracy <= 1 for m in result.metrics)


def test_eval_command_with_a_served_model(server, tmp_path: Path, cli, monkeypatch):
    monkeypatch.setenv("ADAPTLAB_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    assert cli("data", "make", "simple-reversals", "--out", data, "--set", "n_facts=4")[0] == 0
    local = cli("eval", "--model", "organism", "--data", data, "--method", "icl", "--out", tmp_path / "a")
    served = cli("eval", "--model", f"openai:{server.url}#organism", "--data", data, "--method", "icl",
                 "--out", tmp_path / "b")
    assert local[0] == 0 and served[0] == 0, served[2]
    # the deployment's prompt-cache rows are estimates, not reuse the server did; scoring is what it measured
    table = served[1]
    assert "query_cached" in table and "estimate" in table and "measured" in table
    def metrics(folder: Path) -> list[tuple]:
        with sqlite3.connect(folder / "results.sqlite") as db:
            return db.execute("SELECT split, metric, accuracy FROM metrics ORDER BY split, metric").fetchall()

    assert metrics(tmp_path / "a") and metrics(tmp_path / "a") == metrics(tmp_path / "b")
    code, _, err = cli("eval", "--model", f"openai:{server.url}#nope", "--data", data, "--out", tmp_path / "c")
    assert code == 2 and err.count("\n") == 1 and "serves no model 'nope' (served: organism)" in err


def test_a_different_tokenizer_is_said_in_one_line(server, tmp_path: Path, caplog):
    lm = ServedModel(server.url, "organism", tokenizer="tiny", cache=tmp_path / "r.sqlite")
    with caplog.at_level("WARNING", logger="adaptlab.served"):
        lm.score([ScoreRequest("", "The cat", ("sat on the mat", "ran"))])
    (record,) = caplog.records
    assert "tokenizes" in record.getMessage() and "than the local tokenizer" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_scoring_cost_counts_every_request_a_served_model_was_billed_for(server, reversals, tmp_path: Path):
    """Scoring sends the questions and, for the calibrated metric, the null prompts: both are billed, and the
    scoring cost row carries all of it (the null prompts' dollars and cached tokens once went missing)."""
    from adaptlab.evaluate import NULL_PROMPT, question_text, scoring_cost

    prices = TokenPrices(2.0, 1.0, 4.0)
    questions, contexts = reversals.questions[:6], [""] * 6
    lm = ServedModel(server.url, "organism", cache=False, prices=prices)
    _, together = score_questions(lm, questions, contexts)
    _, asked = lm.score([ScoreRequest("", question_text(q), tuple(q.choices)) for q in questions])
    _, null = lm.score([ScoreRequest("", NULL_PROMPT, c) for c in dict.fromkeys(tuple(q.choices) for q in questions)])
    assert null.dollars > 0 and together.dollars == pytest.approx(asked.dollars + null.dollars)
    assert together.tokens_cached == asked.tokens_cached + null.tokens_cached
    assert together.tokens_prefilled == asked.tokens_prefilled + null.tokens_prefilled
    row = scoring_cost(together, len(questions))
    assert row.dollars == pytest.approx(together.dollars) and row.tokens_cached == together.tokens_cached
