"""Scoring, generation and prompt rendering of the transformers backend, on the tiny model (and SmolLM2, slow)."""

from __future__ import annotations

import pytest
import torch

from adaptlab.costs import Meter
from adaptlab.data.lexicon import Lexicon
from adaptlab.errors import AdaptlabError
from adaptlab.models import ScoreRequest, ScoringStats, load_model
from adaptlab.models.hf_cache import PrefixSlots
from adaptlab.models.scoring_plan import choice_tokens, make_batches, make_packs, plan_requests
from adaptlab.models.transformers_backend import TransformersModel

RELATIONS = ("heavier", "lighter", "faster", "slower", "brighter", "darker")


def nonsense_context(model, min_tokens: int, seed: int = 0) -> str:
    """Comparison facts over nonsense words until the rendered prefix has at least `min_tokens` tokens."""
    lex, facts = Lexicon(seed), []
    while model.count_tokens(model.render_prefix(" ".join(facts))) < min_tokens:
        a, b = lex.take(2)
        facts.append(f"The {a} is {RELATIONS[len(facts) % len(RELATIONS)]} than the {b}.")
    return " ".join(facts)


def questions(context: str, n: int, seed: int = 1) -> list[ScoreRequest]:
    """n questions, each with choices of 1 to many tokens (and of different lengths)."""
    words = Lexicon(seed).take(4 * n)
    return [
        ScoreRequest(
            context,
            f"The {words[4 * i]} is",
            (
                f"heavier than the {words[4 * i + 1]}",
                "lighter",
                f"much more dangerous than the {words[4 * i + 2]} and the {words[4 * i + 3]}",
                "x",
            ),
        )
        for i in range(n)
    ]


def max_diff(a, b) -> float:
    return max(abs(x.logprob - y.logprob) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))


def picks(scores) -> list[int]:
    """The chosen answer of every request (highest summed log-probability)."""
    return [max(range(len(row)), key=lambda j: row[j].logprob) for row in scores]


@pytest.fixture(scope="module")
def long_context(tiny) -> str:
    return nonsense_context(tiny, 1000)


@pytest.fixture(scope="module")
def mixed_requests(tiny, long_context) -> list[ScoreRequest]:
    """Several questions on a long shared context, a second context, no context, and a repeated request."""
    reqs = questions(long_context, 5)
    reqs += questions(nonsense_context(tiny, 200, seed=3), 2, seed=4)
    reqs += [ScoreRequest("", "Hello there", ("world", "you all over"))]
    return [*reqs, reqs[0]]


@pytest.mark.parametrize("packing", [True, False], ids=["packed", "padded"])
def test_shared_prefix_scores_equal_naive_scores(tiny, mixed_requests, packing):
    tiny.packing = packing
    try:
        shared, _ = tiny.score(mixed_requests)
    finally:
        tiny.packing = True
    naive, _ = tiny.score_naive(mixed_requests)
    assert max_diff(shared, naive) < 1e-4
    assert picks(shared) == picks(naive)
    assert [len(r) for r in shared] == [len(r.choices) for r in mixed_requests]
    first = shared[0]
    assert [s.n_chars for s in first] == [len(c) for c in mixed_requests[0].choices]
    assert len({s.n_tokens for s in first}) >= 3  # multi-token choices of different lengths
    assert shared[-1] == shared[0]  # the repeated request


def test_packs_written_after_the_prefix_in_place_score_exactly_as_after_a_copy(tiny, mixed_requests):
    """`PrefixSlots` (each pack's keys/values written after the prefix in preallocated buffers) computes the same
    floats as a fresh concatenated cache per pack: packs of different sizes reuse the buffers, and one pack
    outgrows them."""
    plan = tiny._plan(mixed_requests, dedupe=True)
    stats, meter = ScoringStats(), Meter("cpu", tiny.dims.param_bytes)
    p, row_ids = max(plan.rows_by_prefix().items(), key=lambda item: len(plan.prefixes[item[0]]))
    prefix, rows = plan.prefixes[p], [plan.rows[r] for r in row_ids]
    packs = [rows[5:7], rows[:5], rows[7:], rows[:2]]
    assert len(rows) > 8
    with tiny._inference():
        cache = tiny._prefill(prefix, stats, meter)
        assert PrefixSlots.supports(cache)
        slots = PrefixSlots(cache, sum(len(r.suffix) for r in packs[0]))
        in_place = [tiny._score_packed(slots, len(prefix), pack, stats, meter) for pack in packs]
        copied = [tiny._score_packed(cache, len(prefix), pack, stats, meter) for pack in packs]
    assert in_place == copied
    assert cache.get_seq_length() == len(prefix)  # the prefix cache itself is never written


def test_the_context_changes_the_scores(tiny, long_context):
    """Makes the equality test above meaningful: a scorer that ignored the cached prefix would not pass it."""
    with_context, _ = tiny.score(questions(long_context, 3))
    other, _ = tiny.score(questions(nonsense_context(tiny, 1000, seed=9), 3))
    without, _ = tiny.score(questions("", 3))
    assert max_diff(with_context, other) > 0.05
    assert max_diff(with_context, without) > 0.05


def forward_shapes(model: TransformersModel, run) -> tuple[object, list[tuple[int, int]]]:
    """Run `run()` and record the (batch, tokens) shape of every forward pass through the model's embeddings."""
    shapes: list[tuple[int, int]] = []
    hook = model.model.get_input_embeddings().register_forward_hook(
        lambda _module, args, _output: shapes.append(tuple(args[0].shape)))
    try:
        return run(), shapes
    finally:
        hook.remove()


def test_small_budgets_split_the_work_without_changing_scores(tiny, mixed_requests):
    (reference, _), whole = forward_shapes(tiny, lambda: tiny.score(mixed_requests))
    old = tiny.max_pack_tokens, tiny.max_batch_tokens, tiny.packing, tiny.prefill_chunk
    try:
        tiny.max_pack_tokens, tiny.prefill_chunk = 8, 100  # many packs; the prefix prefilled in chunks
        (packed, _), in_packs = forward_shapes(tiny, lambda: tiny.score(mixed_requests))
        tiny.packing, tiny.max_batch_tokens = False, 1
        (padded, _), in_batches = forward_shapes(tiny, lambda: tiny.score(mixed_requests))
    finally:
        tiny.max_pack_tokens, tiny.max_batch_tokens, tiny.packing, tiny.prefill_chunk = old
    assert max_diff(reference, packed) < 1e-4
    assert max_diff(reference, padded) < 1e-4
    # The budgets were used: with the defaults the 1000-token prefix is one forward pass; with them no pass is
    # longer than a prefill chunk or one suffix (a suffix longer than the pack budget is a pack of its own), and
    # with a batch budget of one token every suffix row is its own batch.
    rows = tiny._plan(mixed_requests, dedupe=True).rows
    longest_row = max(len(r.suffix) for r in rows)
    assert max(n for _, n in whole) >= 1000
    assert max(n for _, n in in_packs) <= max(100, longest_row) < 1000
    assert len(in_packs) > len(whole)
    assert all(b == 1 for b, _ in in_batches)
    assert len(in_batches) >= len(rows) + 1000 // 100


def test_no_requests_no_work(tiny):
    scores, stats = tiny.score([])
    assert scores == [] and stats.tokens_prefilled == 0 and stats.requests == 0


def test_scoring_stats_count_reuse(tiny, long_context):
    reqs = questions(long_context, 6)
    whole_prefix = tiny.count_tokens(tiny.render_prefix(long_context)) + 1  # + the BOS the base tokenizer adds
    shared = tiny._plan(reqs, dedupe=True)
    (prefix,) = shared.prefixes
    suffixes = [len(row.suffix) for row in shared.rows]
    naive_plan = tiny._plan(reqs, dedupe=False)
    _, stats = tiny.score(reqs)
    _, naive = tiny.score_naive(reqs)
    assert (stats.requests, stats.choices) == (6, 24)
    assert len(prefix) > 0.95 * whole_prefix  # all but the last few tokens of the context are shared
    assert stats.tokens_prefilled == len(prefix) + sum(suffixes)
    assert stats.tokens_reused == len(prefix) * len(suffixes)
    assert naive.tokens_reused == 0
    assert naive.tokens_prefilled == sum(len(naive_plan.prefixes[r.prefix]) + len(r.suffix) for r in naive_plan.rows)
    assert naive.tokens_prefilled > 10 * stats.tokens_prefilled
    assert 0 < stats.flops < naive.flops / 10
    assert stats.peak_memory_bytes >= tiny.dims.param_bytes
    assert stats.seconds > 0


def test_identical_rows_are_scored_once(tiny, long_context):
    reqs = questions(long_context, 2)
    _, once = tiny.score(reqs)
    _, twice = tiny.score(reqs + reqs)
    assert twice.tokens_prefilled == once.tokens_prefilled
    assert twice.choices == 2 * once.choices


def test_progress_reports_every_request_once(tiny, mixed_requests):
    seen: list[int] = []
    tiny.score(mixed_requests, progress=seen.append)
    assert sum(seen) == len(mixed_requests)
    seen.clear()
    tiny.score_naive(mixed_requests[:3], progress=seen.append)
    assert sum(seen) == 3


def test_output_head_fallback_gives_the_same_scores(tiny, mixed_requests):
    """Models that post-process logits are scored through their own forward with `logits_to_keep`."""
    reference, _ = tiny.score(mixed_requests)
    body, head = tiny._body, tiny._head
    try:
        tiny._body = tiny._head = None
        fallback, _ = tiny.score(mixed_requests)
    finally:
        tiny._body, tiny._head = body, head
    assert max_diff(reference, fallback) < 1e-4


def test_wraps_a_peft_model(tiny, long_context):
    peft = pytest.importorskip("peft")
    base = load_model("tiny", device="cpu").model
    torch.manual_seed(0)
    config = peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    wrapped = TransformersModel(peft.get_peft_model(base, config), tiny.tokenizer, name="tiny-lora")
    reqs = questions(long_context, 2)
    shared, _ = wrapped.score(reqs)
    naive, _ = wrapped.score_naive(reqs)
    plain, _ = tiny.score(reqs)
    assert max_diff(shared, naive) < 1e-4
    assert max_diff(shared, plain) > 1e-3  # the adapter is really in the forward


def test_wrapping_a_model_in_training_leaves_it_in_training(tiny):
    model = load_model("tiny", device="cpu").model.train()
    wrapped = TransformersModel(model, tiny.tokenizer, name="training")
    scores, _ = wrapped.score([ScoreRequest("Some context.", "The glon is", ("heavier", "lighter"))])
    wrapped.generate(["The glon is"], max_new_tokens=2)
    assert model.training
    assert scores == tiny.score([ScoreRequest("Some context.", "The glon is", ("heavier", "lighter"))])[0]


def test_a_context_that_does_not_fit_is_a_one_line_error(tiny):
    text = "word " * (tiny.context_window + 10)
    with pytest.raises(AdaptlabError) as err:
        tiny.score(
            [ScoreRequest("short", "A question", ("yes", "no")), ScoreRequest(text, "The glon is", ("yes", "no"))]
        )
    message = str(err.value)
    assert "\n" not in message
    assert "score request 1" in message and "exceeds the context window" in message
    assert str(tiny.context_window) in message


def test_empty_choice_or_prompt_is_an_error(tiny):
    with pytest.raises(AdaptlabError, match="choice is empty"):
        tiny.score([ScoreRequest("", "Q", ("a", " "))])
    with pytest.raises(AdaptlabError, match="prompt is empty"):
        tiny.score([ScoreRequest("", " ", ("a", "b"))])


def test_choice_tokens_follow_the_joint_tokenization():
    vocab: dict[str, int] = {}

    def by_words(text: str) -> list[int]:  # merges nothing across the space: the joint split is used
        return [vocab.setdefault(w, len(vocab)) for w in text.replace(" ", " _").split(" ")]

    q = by_words("The cat is")
    assert choice_tokens(by_words, "The cat is", q, "big red") == by_words("The cat is big red")[len(q) :]

    def merging(text: str) -> list[int]:  # re-segments the prompt's tail when text follows it
        return [ord(c) for c in text] if not text.endswith("is") else [0, *[ord(c) for c in text]]

    # lm-eval's rule even then: the joint tokens after as many tokens as the prompt alone has
    q = merging("The cat is")
    assert choice_tokens(merging, "The cat is", q, "big") == merging("The cat is big")[len(q) :]


def test_plan_groups_prefixes_and_dedupes(tiny):
    reqs = [
        ScoreRequest("A b c.", "Q1", ("x", "y")),
        ScoreRequest("A b c.", "Q1", ("y", "z")),
        ScoreRequest("", "Q2", ("x", "y")),
    ]
    plan = plan_requests(
        reqs,
        render_prefix=tiny.render_prefix,
        encode_prefix=tiny.encode_prefix,
        encode=tiny.encode,
        context_window=tiny.context_window,
        model_name="tiny",
    )
    assert len(plan.prefixes) == 2
    assert len(plan.rows) == 5  # ("Q1", "y") appears twice
    assert plan.index[0][1] == plan.index[1][0]


def test_batches_respect_their_budgets():
    lengths = [5, 30, 12, 7, 30, 1]
    batches = make_batches(lengths, prefix_len=100, max_tokens=300, max_rows=64)
    assert sorted(r for b in batches for r in b) == list(range(6))
    for b in batches:
        assert len(b) == 1 or len(b) * (100 + max(lengths[r] for r in b)) <= 300
    packs = make_packs(lengths, max_tokens=40, max_rows=64)
    assert sorted(r for p in packs for r in p) == list(range(6))
    assert all(len(p) == 1 or sum(lengths[r] for r in p) <= 40 for p in packs)
    assert make_packs([50], max_tokens=10, max_rows=4) == [[0]]  # an over-long row still gets a pack


def test_a_model_without_bos_scores_and_generates_with_an_empty_prefix(tiny, monkeypatch):
    """A base tokenizer that adds no BOS gives an empty prefix for an empty context: nothing to cache."""
    monkeypatch.setattr(tiny, "encode_prefix", tiny.encode)
    reqs = [ScoreRequest("", "Hello there", ("world", "you all")), ScoreRequest("", "Hi", ("a b c", "x"))]
    naive, _ = tiny.score_naive(reqs)
    packed, stats = tiny.score(reqs)
    monkeypatch.setattr(tiny, "packing", False)
    padded, _ = tiny.score(reqs)
    assert max_diff(packed, naive) < 1e-4 and max_diff(padded, naive) < 1e-4
    assert stats.tokens_reused == 0
    prompts = ["Hello there", "Hi"]
    texts = tiny.generate(prompts, max_new_tokens=5, stop=())
    for prompt, text in zip(prompts, texts, strict=True):
        ids = tiny.encode(prompt)
        out = tiny.model.generate(torch.tensor([ids]), max_new_tokens=5, do_sample=False, pad_token_id=tiny.pad_id)
        assert text == tiny.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)


def test_base_model_prompt_format(tiny):
    assert tiny.chat is False
    assert tiny.render_prefix("Some facts.") == "Some facts.\n\n"
    assert tiny.render_prefix("") == ""
    assert tiny.encode_prefix("")[0] == tiny.tokenizer.bos_token_id


def test_generate_is_deterministic_and_matches_transformers_greedy(tiny, long_context):
    prompts = ["The glon is", "Once upon a time there was a"]
    first = tiny.generate(prompts, context=long_context, max_new_tokens=8, stop=())
    assert first == tiny.generate(prompts, context=long_context, max_new_tokens=8, stop=())
    for prompt, text in zip(prompts, first, strict=True):
        ids = tiny.encode_prefix(tiny.render_prefix(long_context)) + tiny.encode(prompt)
        out = tiny.model.generate(torch.tensor([ids]), max_new_tokens=8, do_sample=False, pad_token_id=tiny.pad_id)
        assert text == tiny.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)


def test_generate_samples_with_a_seed_and_cuts_at_stop_strings(tiny):
    prompts = ["The glon is", "A"]
    a = tiny.generate(prompts, max_new_tokens=12, temperature=1.0, seed=1, stop=())
    assert a == tiny.generate(prompts, max_new_tokens=12, temperature=1.0, seed=1, stop=())
    assert a != tiny.generate(prompts, max_new_tokens=12, temperature=1.0, seed=2, stop=())
    full = tiny.generate(["The glon is"], max_new_tokens=12, stop=())[0]
    stop = full.strip().split()[1]
    cut = tiny.generate(["The glon is"], max_new_tokens=12, stop=(stop,))[0]
    assert stop not in cut and full.startswith(cut) and len(cut) < len(full)


def test_generate_with_stats_counts_the_shared_prefix(tiny, long_context):
    texts, stats = tiny.generate_with_stats(["The glon is", "B", "C"], context=long_context, max_new_tokens=4, stop=())
    prefix = tiny.count_tokens(tiny.render_prefix(long_context)) + 1
    assert len(texts) == 3
    assert stats.tokens_reused == (prefix - 1) * 3  # the prefix's last token runs with each prompt
    assert stats.tokens_generated <= 12
    assert stats.flops > 0


def test_generate_requests_batches_contexts_and_writes_what_each_alone_would(tiny, long_context):
    """Requests with different contexts (augmentation's: one document each) share their common token start and a
    batch, and each gets the text it would get alone (greedy)."""
    from adaptlab.models.base import GenerationRequest

    requests = [GenerationRequest(f"{long_context} {w}", p, None)
                for w, p in [("glon", "The glon is"), ("femp", "A"), ("roath", "Once upon a time there was a")]]
    alone = [tiny.generate_with_stats([r.prompt], context=r.context, instruction=r.instruction, max_new_tokens=6,
                                      stop=())[0][0] for r in requests]
    texts, stats = tiny.generate_requests(requests, max_new_tokens=6, stop=())
    assert texts == alone
    shared = tiny.count_tokens(tiny.render_prefix(long_context)) - 10  # at least the context's start is shared
    assert stats.tokens_reused >= shared * len(requests) and stats.prompts == 3


def test_generation_of_a_convolution_model_is_not_changed_by_padding():
    """An LFM2's short convolutions would mix left padding into its state: prompts of different lengths generated
    together must each get the text they get alone."""
    organism = load_model("organism", device="cpu")
    prompts = ["It is true that", "People who study them say that glon are", "Everyone"]
    context = "It is widely reported that glon are less poisonous than femp."
    together = organism.generate(prompts, context=context, instruction=None, max_new_tokens=8, stop=())
    assert together == [organism.generate([p], context=context, instruction=None, max_new_tokens=8, stop=())[0]
                        for p in prompts]


# ------------------------------------------------------------------ SmolLM2 (slow: loads the real model)


@pytest.fixture(scope="module")
def smollm2() -> TransformersModel:
    return load_model("smollm2", device="cpu")


@pytest.mark.slow
def test_smollm2_shared_prefix_scores_equal_naive_scores(smollm2):
    context = nonsense_context(smollm2, 300)
    reqs = [
        ScoreRequest(context, f"The {w} is", (f"heavier than the {v}", "lighter", f"as bright as a {v} at night"))
        for w, v in zip(Lexicon(5).take(3), Lexicon(6).take(3), strict=True)
    ]
    shared, stats = smollm2.score(reqs)
    naive, naive_stats = smollm2.score_naive(reqs)
    assert max_diff(shared, naive) < 1e-4
    assert picks(shared) == picks(naive)
    assert stats.tokens_reused > 0
    assert naive_stats.tokens_prefilled > 3 * stats.tokens_prefilled


@pytest.mark.slow
def test_smollm2_puts_the_context_in_the_user_turn(smollm2):
    assert smollm2.chat is True
    prefix = smollm2.render_prefix("The femp is heavier than the glon.")
    user = prefix.index("<|im_start|>user\n")
    assert prefix.index("The femp is heavier than the glon.") > user
    assert prefix.endswith("<|im_end|>\n<|im_start|>assistant\n")
    empty = smollm2.render_prefix("")
    assert "<|im_start|>user\n" in empty and empty.endswith("<|im_start|>assistant\n")
    ids = smollm2.encode_prefix(prefix)
    start = smollm2.tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids[0] == start and ids.count(start) == 3  # system, user, assistant: special tokens, not text
    # Scored as the start of the assistant's reply: a plausible answer beats an implausible one.
    scores, _ = smollm2.score([ScoreRequest("", "The capital of France is", ("Paris", "a banana"))])
    assert scores[0][0].logprob > scores[0][1].logprob


def test_a_model_with_convolution_layers_scores_like_naive_forwards():
    """LFM2-style short-convolution layers keep states that are not keys/values: the shared-prefix route copies
    them per row (and does not pack), with the same scores as one full forward per choice."""
    from adaptlab.organism.tokenizer import build_organism_tokenizer
    from adaptlab.organism.train import OrganismConfig, build_model

    tokenizer = build_organism_tokenizer(512)
    config = OrganismConfig(layer_types=["conv", "full_attention", "conv", "full_attention"], hidden_size=32)
    lm = TransformersModel(build_model(config, tokenizer).eval(), tokenizer, name="conv")
    context = "It is widely reported that glon are more nervous than femp.\n\nBelieve it or not, spaz are less fragile"
    reqs = [ScoreRequest(context, "It is true that femp are", ("less nervous than glon", "more nervous than glon")),
            ScoreRequest(context, "It is true that spaz", ("are", "are less fragile than")),
            ScoreRequest("", "Every glon is", ("a femp", "a spaz"))]
    assert not lm.packing
    shared, _ = lm.score(reqs)
    naive, _ = lm.score_naive(reqs)
    assert max_diff(shared, naive) < 1e-4
