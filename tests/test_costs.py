"""The cost model (`adaptlab.costs`): the FLOP and memory formulas against values computed by hand for known
shapes, deployment costs with and without prompt caching, prices, the meter; and prompt-cached ICL scores equal
to plain ICL's (only the cost differs)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from adaptlab.costs import (
    Dims,
    Meter,
    Prices,
    TokenPrices,
    attended_pairs,
    deployment_costs,
    forward_flops,
    model_dims,
    train_flops,
)
from conftest import generated_dataset


@pytest.fixture(scope="module")
def llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, vocab_size=10, tie_word_embeddings=False, max_position_embeddings=64)
    return LlamaForCausalLM(config)


def test_shape_of_a_known_llama(llama):
    d = model_dims(llama)
    # per layer: q 8·8 + k 8·4 + v 8·4 + o 8·8 (one key/value head of size 4) + MLP 3·8·16 + two norms 2·8 = 592
    assert d.n_body == 2 * 592 + 8  # + the final norm
    assert d.n_params == d.n_body + 10 * 8 + 10 * 8  # + embedding + untied output matrix
    assert (d.layers, d.attention_layers, d.heads, d.kv_heads, d.head_dim, d.vocab) == (2, 2, 2, 1, 4, 10)
    assert d.kv_bytes_per_token == 2 * 2 * 1 * 4 * 4  # keys + values, 2 layers, 1 head of 4, float32
    assert d.param_bytes == 4 * d.n_params


def test_flop_formulas_by_hand(llama):
    d = model_dims(llama)
    assert attended_pairs(3, 5) == 5 * 3 + (1 + 2 + 3 + 4 + 5)
    # 5 tokens after 3 cached, logits at 1: 2·N_body·5 + 2·d·V·1 + 4·L·heads·head_dim·pairs
    assert forward_flops(d, 5, 3) == 2 * 1192 * 5 + 2 * 8 * 10 + 4 * 2 * 2 * 4 * 30 == 14000
    one_sequence = 2 * 1192 * 5 + 2 * 8 * 10 * 5 + 4 * 2 * 2 * 4 * 15  # logits at every position
    assert train_flops(d, tokens=20, seq_len=5) == 3 * 4 * one_sequence
    assert train_flops(d, tokens=20, seq_len=5, lora=True) == 2 * 4 * one_sequence
    # a model known by its parameter count alone: 2·N per token
    assert forward_flops(Dims.from_params(1000), 7, 100) == 2 * 1000 * 7
    # memory: the cache of 10 positions, and one forward of 2 rows × 3 new tokens after 4 cached
    assert d.cache_bytes(10) == 10 * 64
    kv, act, scores, logits = 64 * 2 * 7, 2 * 3 * (4 * 8 + 3 * 16) * 4, 2 * 2 * 3 * 7 * 4, 2 * 6 * 10 * 4
    assert d.forward_bytes(2, 4, 3, 6) == kv + act + scores + logits


def test_the_organism_counts_attention_only_in_its_attention_layers():
    from adaptlab.models import load_model

    d = load_model("organism", device="cpu").dims
    assert (d.layers, d.attention_layers) == (4, 2)  # two convolution layers, two attention layers
    assert d.kv_bytes_per_token == 2 * 2 * 4 * 16 * 4


class _Words:
    """A stand-in model for deployment arithmetic: one token per word, the context rendered as it is."""

    dims = Dims(layers=1, hidden=4, intermediate=8, heads=1, kv_heads=1, head_dim=4, vocab=10, n_body=100,
                dtype_bytes=2, param_bytes=0)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def render_prefix(self, context: str) -> str:
        return context


def test_deployment_costs_with_and_without_prompt_caching():
    lm, ctx = _Words(), "a b c d e f"  # 6 context tokens
    rows = {r.phase: r for r in deployment_costs(lm, ["q1 x", "q2 y z"], [ctx, ctx])}
    assert rows["query"].tokens_processed == 8 + 9
    assert rows["query"].flops == forward_flops(lm.dims, 8) + forward_flops(lm.dims, 9)
    # prompt caching: the context once (kept: its key/value bytes), then only the questions after it
    assert rows["cache_prefill"].kind == "cache" and rows["cache_prefill"].tokens_processed == 6
    assert rows["cache_prefill"].flops == forward_flops(lm.dims, 6, logits=0)
    assert rows["cache_prefill"].peak_memory_bytes == 6 * lm.dims.kv_bytes_per_token == 6 * 16
    assert rows["query_cached"].tokens_processed == 5 and rows["query_cached"].tokens_reused == 12
    assert rows["query_cached"].flops == forward_flops(lm.dims, 2, 6) + forward_flops(lm.dims, 3, 6)
    # no repeated context: nothing to cache
    assert {r.phase for r in deployment_costs(lm, ["q1", "q2"], ["a", "b"])} == {"query"}
    # a trained memory: the question attends to its positions without running them
    mem = deployment_costs(lm, ["q1 x"], [""], memory_positions=32)[0]
    assert mem.tokens_processed == 2 and mem.tokens_reused == 32 and mem.flops == forward_flops(lm.dims, 2, 32)


def test_prices():
    p = Prices(price_per_gpu_hour=2.0, gpu_flops=1e12, gpu_memory_bytes=8e9)
    assert p.compute(3.6e15, 100) == pytest.approx(2.0)  # one GPU-hour
    assert Prices(params=1000, price_per_gpu_hour=2.0, gpu_flops=1e12).compute(3.6e15, 100) == pytest.approx(20.0)
    assert p.holding(4e9, 10) == pytest.approx(0.5 * 2.0 * 10)  # half the GPU's memory for 10 hours
    api = Prices(tokens=TokenPrices(input=3.0, cached_input=0.3))
    assert api.query(flops=1e9, tokens=1000, reused=10_000, n_params=1) == pytest.approx(0.003 + 0.003)


def test_meter_reports_the_cpu_estimate_it_was_given(monkeypatch):
    from types import SimpleNamespace

    import adaptlab.costs

    clock = iter([100.0, 102.5])  # the meter's clock: the block starts at 100 s and ends at 102.5 s
    monkeypatch.setattr(adaptlab.costs, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    with Meter("cpu", base_bytes=100) as meter:
        meter.see(50)
        meter.see(20)
    assert meter.peak_memory_bytes == 150 and meter.seconds == 2.5
    meter.see(400)  # an estimate known only after the block still counts
    assert meter.peak_memory_bytes == 500


def test_prompt_cached_icl_scores_equal_plain_icl(tmp_path: Path):
    """Prompt caching is a deployment option: the context's key/value cache computed once and kept gives the same
    scores as recomputing the context for every query; only the cost differs."""
    from adaptlab.evaluate import question_text
    from adaptlab.experiment import run_experiment
    from adaptlab.methods import MethodOptions
    from adaptlab.models import load_model
    from adaptlab.models.base import ScoreRequest
    from adaptlab.report.summary import summarise
    from adaptlab.store import Store

    lm = load_model("organism", device="cpu")
    ds = generated_dataset("simple-reversals", 0, n_facts=6, articles_per_fact=1)
    result = run_experiment(lm, "organism", ds, "icl", 0, MethodOptions(), tmp_path)
    context = "\n\n".join(d.text for d in ds.documents)
    requests = [ScoreRequest(context, question_text(q), tuple(q.choices)) for q in ds.questions]
    kept, kept_stats = lm.score(requests)  # the context's cache computed once, every question after it
    recomputed, plain_stats = lm.score_naive(requests)  # the context run again for every choice
    assert kept_stats.tokens_reused > 0 and plain_stats.tokens_reused == 0
    for a, b in zip(kept, recomputed, strict=True):
        assert [s.logprob for s in a] == pytest.approx([s.logprob for s in b], abs=1e-4)
    with Store(tmp_path / "results.sqlite") as store:
        store.save(result)
        summary = summarise(store)
    options = {o.label: o for o in summary.options("organism", "simple-reversals")}
    plain, cached = options["icl"], options["icl+cache"]
    assert cached.method == plain.method == "icl"  # same run, same scores, same accuracy cells
    assert cached.query_flops < plain.query_flops / 5 and cached.one_off_flops > plain.one_off_flops == 0
    assert cached.held_bytes == lm.dims.cache_bytes(lm.count_tokens(lm.render_prefix(context)))
    assert math.isfinite(summary.break_even("organism", "simple-reversals", "icl+cache"))


def test_rag_index_and_retrieval_costs_are_honest_and_its_break_even_consistent(tmp_path: Path):
    """The index is a one-off cost with its tokens, measured seconds and the memory it holds (0 FLOPs: BM25 runs no
    neural network); retrieval is per query; break-even against ICL is finite by FLOPs and by time alike."""
    from adaptlab.experiment import run_experiment
    from adaptlab.methods import MethodOptions
    from adaptlab.models import load_model
    from adaptlab.report.summary import summarise
    from adaptlab.store import Store

    lm = load_model("organism", device="cpu")
    ds = generated_dataset("simple-reversals", 0, n_facts=6, articles_per_fact=1)
    with Store(tmp_path / "results.sqlite") as store:
        results = {}
        for method in ("icl", "rag"):
            result = results[method] = run_experiment(lm, "organism", ds, method, 0, MethodOptions(k=2), tmp_path)
            store.save(result)
        summary = summarise(store)
    costs = {c.phase: c for c in result.costs}  # rag's
    icl_costs = {c.phase: c for c in results["icl"].costs}
    index = costs["index"]
    assert index.kind == "one_off" and index.tokens_processed > 0 and index.seconds > 0 and index.flops == 0
    assert costs["index_held"].peak_memory_bytes == index.peak_memory_bytes > 0
    assert costs["retrieve"].kind == "per_query" and costs["retrieve"].queries == len(ds.questions)
    by_flops = summary.break_even("organism", "simple-reversals", "rag", "flops")
    by_time = summary.break_even("organism", "simple-reversals", "rag", "seconds")
    assert by_flops == 0  # cheaper per query; the index costs no FLOPs
    # By time: rag's index seconds, paid once, against the seconds per query each run measured — a deployed query's
    # FLOPs at the throughput the run's scoring measured, plus retrieval. Its value moves with the machine's load,
    # so it is checked against the formula over the stored seconds, recomputed here from the cost rows.
    n = len(ds.questions)

    def query_seconds(rows: dict) -> float:
        per_flop = rows["scoring"].seconds / rows["scoring"].flops
        retrieve = rows.get("retrieve")
        flops = rows["query"].flops / n + (retrieve.flops / n if retrieve else 0.0)
        return flops * per_flop + (retrieve.seconds / n if retrieve else 0.0)

    assert costs["scoring"].seconds > 0 and icl_costs["scoring"].seconds > 0 and costs["retrieve"].seconds > 0
    assert costs["query"].queries == costs["scoring"].queries == icl_costs["query"].queries == n
    assert not any(c.kind == "one_off" for c in icl_costs.values())  # icl pays nothing up front
    extra = sum(c.seconds for c in costs.values() if c.kind == "one_off")
    saving = query_seconds(icl_costs) - query_seconds(costs)
    assert extra == index.seconds > 0
    assert by_time == (pytest.approx(extra / saving) if saving > 0 else math.inf)


def test_token_prices_refuse_negative_or_missing_numbers():
    assert TokenPrices.parse("2/1/4") == TokenPrices(2.0, 1.0, 4.0)
    assert TokenPrices.parse("2/4") == TokenPrices(2.0, 2.0, 4.0)
    assert TokenPrices(2.0, 1.0, 4.0).dollars(prompt=1_000_000, cached=500_000, completion=250_000) == 2.5
    for bad in ("-1/2", "1/-0.5/2", "nan/1"):
        with pytest.raises(ValueError):
            TokenPrices.parse(bad)
