"""`adaptlab organism train`: pretrain the model organism on the stream of random worlds (see worlds.py).

An LFM2 (a transformers class, so scoring, LoRA and generation are the same code as for every other backend): two
short causal convolution layers (each token mixed with the five before it), then two attention layers with rotary
positions, 64 wide, with a ~200-token WordPiece vocabulary over the project's language (see tokenizer.py). Plain
PyTorch loop, AdamW, warm-up then cosine decay, loss on the answers and oracle sentences only. Every
`eval_every` steps the organism is probed on held-out worlds with the real evaluation code (ICL multiple choice
on reversal and syllogism questions, plus next-token accuracy on a copying task), the learning curves are saved
with the checkpoint, and the training state is saved so that an interrupted run resumes where it stopped (each
step's batch is drawn from its own seed, so a resumed run is the same run).

What the measurements decided (docs/results/organism_attempts.md has the curves):
- pieces, not words: with one token per lexicon word copying had not formed after 1,750 steps; with onset/vowel/
  coda pieces a 2-layer model learns the copying task to 98% in ~1,000 steps;
- convolutions first: a 4-layer Llama never learned to answer about an entity ("glon are → ?", the answer keyed by
  a multi-piece word one template token back) in 2,000 steps; with the two convolution layers below the attention
  every position already holds the few tokens before it, and in-context retrieval forms in ~1,000 steps;
- in-context *reversal* (the answer keyed by the fact's object, then inverted) needs both of v6's changes: the
  questions of a world before its oracle sentences (`oracle_last`: otherwise half the reversal questions can be
  answered by the subject lookup in an oracle sentence, and the organism learned to copy the stated comparative),
  and kernels of 6 (the end of a fact then holds its comparative, so one attention hop finds and inverts it). It
  forms late: at chance until step ~1,750, 0.70 at 2,000, 0.75-0.80 from 2,250 (held-out 10-fact worlds);
- the recall and filler options (`recall_connector_share`, `recall_ask_all`, `copy_filler_share`,
  `recall_reverse_share`) are the diagnosis runs' knobs, off by default;
- v6 (stage 1, the defaults): 3,000 steps, 4,948 s on one thread of a shared 2-core machine; rephrase 1.00,
  reversal 0.75, syllogism 0.59 and premise 0.47 (chance 1/6) on held-out worlds; but given a document alone it
  wrote garbage first (`writes_reversals` 0.0), since with `oracle_last` nothing after a context was ever trained;
- v7: stage 2 (configs/organism/stage2.yaml) starts from v6's weights (`start_from`) and trains 600 steps with
  `oracle_only_share` 0.25: writes 0.9, reversal 0.93, rephrase 0.975;
- v8 (the shipped checkpoint): stage 3 (configs/organism/stage3.yaml) trains 300 steps from v7's weights on the
  demo's world sizes (rows of 1,024 tokens) with half the world rows at the earlier sizes (`small_world_share`):
  on the demo's worlds (seeds 10-15) better in context (reversal 0.90 -> 0.93, syllogism 0.24 -> 0.31), its own
  augmentations still good enough for `aug-ft` (reversal 0.95), though its writing after one document is less
  precise (60 facts: 0.97 -> 0.80). Without the small worlds (run X) `aug-ft` fell to 0.90.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, model_validator

from adaptlab.models.transformers_backend import TransformersModel
from adaptlab.organism.worlds import (
    MAX_FACTS,
    MAX_SYLLOGISMS,
    SEPARATOR,
    Sequence,
    copy_sequence,
    draw_world,
    recall_sequence,
)

STATE = "training_state"  # sub-folder of `out` holding what a resumed run needs
# The probe's worlds: apart from the pretraining stream (seeds ≥ 10^6) and from the small seeds that runs and the
# demo evaluate on, so that choosing a recipe by its curves does not choose it on the demo's questions.
PROBE_SEED = 10_000


class OrganismConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hidden_size: int = 64
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 256
    context_window: int = 512  # training rows are cut here
    # The window the model declares (max_position_embeddings): what evaluation may put in one sequence. Rotary
    # positions are relative, and retrieval trained on rows of up to `context_window` tokens carries over to
    # longer contexts (measured: rephrase 1.0 on 20-fact worlds, 350 tokens, after training on 10-fact worlds).
    window: int = 1024
    steps: int = 3000
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    curriculum_steps: int = 1500  # worlds grow from tiny to full size over these steps
    weight_decay: float = 0.01
    seed: int = 0
    eval_every: int = 250
    eval_worlds: int = 4
    # Shares of the rows that are not worlds (see worlds.py): the copying task (induction-head warm-up) and
    # associative recall (retrieval keyed by a whole word), of which a share is written "key are value".
    copy_share: float = 0.15
    recall_share: float = 0.25
    recall_connector_share: float = 0.0
    recall_ask_all: bool = False  # ask every key of a recall row (else a random number of them)
    recall_reverse_share: float = 0.0  # of the recall rows, the share asked value → key
    copy_filler_share: float = 0.0  # of the copying rows, the share with a filler word between the words
    # A world's questions before its oracle sentences, so that a reversal question can only be answered by finding
    # the fact by its object (worlds.py); with the oracle sentences mixed in, half of them could be answered by the
    # subject lookup and the organism learned to copy the stated comparative instead (v5).
    oracle_last: bool = True
    # Of the world rows, the share that carries the oracle sentences alone (no questions): what the organism writes
    # right after a context, which its own augmentations are (worlds.py).
    oracle_only_share: float = 0.0
    # The largest worlds of the stream: facts of a simple-reversals world (told in 1 to `max_articles` articles
    # each) and examples of a simple-syllogisms world. The defaults are the probe's worlds; a later stage can grow
    # them to the demo's (16 facts in 3 articles, 12-18 examples), with `context_window` to hold them.
    max_facts: int = MAX_FACTS
    max_syllogisms: int = MAX_SYLLOGISMS
    max_articles: int = 1
    # Of the world rows, the share drawn at the default sizes (`MAX_FACTS` facts in 1 article, `MAX_SYLLOGISMS`
    # examples) whatever the `max_*` above say: a later stage on larger worlds keeps the earlier stages' stream in
    # its mix, so that what they taught (precise writing after a short context) is not trained away.
    small_world_share: float = 0.0
    # "conv" or "full_attention" per layer: an LFM2, whose short causal convolutions mix each token with the ones
    # before it, so the attention layers above them can match a whole multi-piece word ("glon are" → its fact).
    # None: a Llama, attention in every layer (the v1-v3 organisms).
    layer_types: list[Literal["conv", "full_attention"]] | None = ["conv", "conv", "full_attention", "full_attention"]
    # Tokens each convolution mixes (the current one and conv_kernel - 1 before it). With 6, two convolutions reach
    # 11 tokens back: the end of "more efficient than sw ##e ##sk ." holds the comparative of the fact whose object it
    # is, which is what a reversal question looks up.
    conv_kernel: int = 6

    # A checkpoint folder whose weights the run starts from (a later stage of a staged recipe), relative to the
    # working folder; None: from scratch. Only the weights are taken: optimizer and schedule start afresh.
    start_from: str | None = None

    @model_validator(mode="after")
    def _one_type_per_layer(self) -> OrganismConfig:
        if self.layer_types is not None and len(self.layer_types) != self.layers:
            raise ValueError(f"layer_types names {len(self.layer_types)} layers, the model has {self.layers}")
        return self


def build_model(config: OrganismConfig, tokenizer: Any) -> Any:
    from transformers import Lfm2Config, Lfm2ForCausalLM, LlamaConfig, LlamaForCausalLM

    common = dict(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.layers, num_attention_heads=config.heads, num_key_value_heads=config.heads,
        max_position_embeddings=config.window, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(config.seed)
    if config.layer_types is None:
        return LlamaForCausalLM(LlamaConfig(**common, rope_theta=10000.0))
    return Lfm2ForCausalLM(Lfm2Config(
        **common, layer_types=list(config.layer_types), block_auto_adjust_ff_dim=False, conv_L_cache=config.conv_kernel,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    ))


def draw_batch(rng: random.Random, size: float, config: OrganismConfig) -> list[Sequence]:
    """One batch: each row a copying sequence, an associative-recall sequence or a world of the current size."""
    from adaptlab.data.lexicon import candidate_words

    def row() -> Sequence:
        u = rng.random()
        if u < config.copy_share:
            filler = "are" if config.copy_filler_share and rng.random() < config.copy_filler_share else ""
            return copy_sequence(rng, candidate_words(), filler)
        if u < config.copy_share + config.recall_share:
            connector = "are" if config.recall_connector_share and rng.random() < config.recall_connector_share else ""
            reverse = bool(config.recall_reverse_share) and rng.random() < config.recall_reverse_share
            return recall_sequence(rng, candidate_words(), connector, config.recall_ask_all, reverse)
        oracle_only = bool(config.oracle_only_share) and rng.random() < config.oracle_only_share
        if config.small_world_share and rng.random() < config.small_world_share:  # no draw by default
            return draw_world(rng, size, config.oracle_last, oracle_only)
        return draw_world(rng, size, config.oracle_last, oracle_only, config.max_facts, config.max_syllogisms,
                          config.max_articles)

    return [row() for _ in range(config.batch_size)]


def encode_batch(tokenizer: Any, sequences: list[Sequence], max_len: int) -> dict[str, torch.Tensor]:
    """Token ids, labels and attention mask, right-padded to the longest row. Labels: each statement's target,
    the blank line that ends it and the final EOS; the context and question prompts get none."""

    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    sep = ids(SEPARATOR)
    rows = []
    for s in sequences:
        tokens = tokenizer(s.context + SEPARATOR, add_special_tokens=True)["input_ids"]
        labels = [-100] * len(tokens)
        for i, statement in enumerate(s.statements):
            given, target = ids(statement.given), ids(statement.target)
            if i:
                tokens += sep
                labels += sep
            tokens += given + target
            labels += [-100] * len(given) + target
        tokens.append(tokenizer.eos_token_id)
        labels.append(tokenizer.eos_token_id)
        rows.append((tokens[:max_len], labels[:max_len]))
    width = max(len(t) for t, _ in rows)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    label_ids = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (t, lab) in enumerate(rows):
        input_ids[i, : len(t)] = torch.tensor(t)
        label_ids[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(t)] = 1
    return {"input_ids": input_ids, "labels": label_ids, "attention_mask": mask}


def statement_loss(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """Next-token loss on the statement tokens only, computing the output layer only where it is needed."""
    hidden = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    logits = model.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits, targets[keep])


def copy_accuracy(model: Any, tokenizer: Any, n: int = 16, seed: int = 0) -> float:
    """Next-token accuracy on the second half of held-out copying sequences: is copying from context learned?"""
    from adaptlab.data.lexicon import candidate_words

    rng = random.Random(f"copy-probe-{seed}")
    batch = encode_batch(tokenizer, [copy_sequence(rng, candidate_words()) for _ in range(n)], 10**6)
    with torch.inference_mode():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    return float((logits[:, :-1].argmax(-1)[keep] == targets[keep]).float().mean())


def probe(model: Any, tokenizer: Any, config: OrganismConfig, seed: int = PROBE_SEED) -> dict[str, float]:
    """ICL accuracy on held-out worlds (seeds `seed`, `seed` + 1, …), through the real evaluation path."""
    from adaptlab.data import simple_reversals, simple_syllogisms
    from adaptlab.evaluate import predict
    from adaptlab.models.base import ScoreRequest

    lm = TransformersModel.from_model(model, tokenizer, name="organism")
    out: dict[str, list[bool]] = {}
    for w in range(config.eval_worlds):
        for g in (simple_reversals.generate(seed + w, n_facts=MAX_FACTS, articles_per_fact=1),
                  simple_syllogisms.generate(seed + w, n_examples=MAX_SYLLOGISMS)):
            context = SEPARATOR.join(d.text for d in g.documents)
            reqs = [ScoreRequest(context, q.prompt, tuple(q.choices)) for q in g.questions]
            scores, _ = lm.score(reqs)
            for q, s in zip(g.questions, scores, strict=True):
                out.setdefault(q.split, []).append(predict(s) == q.answer)
    return {split: sum(v) / len(v) for split, v in out.items()}


def writes_reversals(model: Any, tokenizer: Any, seed: int = PROBE_SEED, n_facts: int = MAX_FACTS) -> float:
    """Share of held-out facts for which the organism, given the fact's document alone, writes its reversal first
    (greedy): what its own augmentations (`aug-ft`, training/augment.py) need."""
    from adaptlab.data import simple_reversals
    from adaptlab.training.augment import local_requests, normal_form

    # the prompts augmentation gives a model that continues a context: the document alone
    lm = TransformersModel.from_model(model, tokenizer, name="organism", meta={"augmentation": "continue"})
    g = simple_reversals.generate(seed, n_facts=n_facts, articles_per_fact=1)
    reversal = {o.source_fact_ids[0]: normal_form(o.text) for o in g.oracle}  # one article per fact: one reversal each
    texts, _ = lm.generate_requests(local_requests(lm, [d.text for d in g.documents]), max_new_tokens=32,
                                    stop=(SEPARATOR,))
    hits = sum(normal_form(t) == reversal[d.source_fact_ids[0]] for d, t in zip(g.documents, texts, strict=True))
    return hits / len(g.documents)


def _optimizer(model: Any, config: OrganismConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate, betas=(0.9, 0.98))


def _save_state(path: Path, model: Any, opt: torch.optim.Optimizer, record: dict[str, Any], step: int) -> None:
    """Model and AdamW moments as safetensors (no pickles), the record as JSON; written then renamed."""
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"},
              str(tmp / "model.safetensors"))
    moments = {f"{i}.{name}": t for i, s in opt.state_dict()["state"].items() for name, t in s.items()}
    save_file(moments, str(tmp / "optimizer.safetensors"))
    (tmp / "record.json").write_text(json.dumps({"step": step, "record": record}))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def _load_state(path: Path, config: OrganismConfig, model: Any, opt: torch.optim.Optimizer) -> tuple[int, dict]:
    """The step and record of the run saved in `path`, its weights and AdamW moments loaded into `model` and
    `opt`. A state from another configuration, or one that cannot be read, is a one-line error."""
    from pydantic import ValidationError
    from safetensors.torch import load_file

    from adaptlab.errors import AdaptlabError

    try:
        data = json.loads((path / "record.json").read_text())
        same = OrganismConfig(**data["record"]["config"]) == config
    except ValidationError:
        same = False
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AdaptlabError(f"cannot resume from {path}: {e}; remove it to start afresh") from None
    if not same:
        raise AdaptlabError(f"{path} holds a run with another configuration; remove it or use another --out")
    try:
        model.load_state_dict(load_file(str(path / "model.safetensors")), strict=False)
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, tensor in load_file(str(path / "optimizer.safetensors")).items():
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = tensor
        saved = opt.state_dict()
        saved["state"] = state
        opt.load_state_dict(saved)
    except (OSError, RuntimeError, ValueError) as e:
        raise AdaptlabError(f"cannot resume from {path}: {e}; remove it to start afresh") from None
    return int(data["step"]), data["record"]


def _load_weights(model: Any, folder: Path) -> None:
    """The weights of an organism checkpoint (safetensors) into `model`; a folder that holds none, or weights of
    another shape, is a one-line error."""
    from safetensors.torch import load_file

    from adaptlab.errors import AdaptlabError

    try:
        missing, unexpected = model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
    except (OSError, RuntimeError, ValueError) as e:
        raise AdaptlabError(f"cannot start from {folder}: {str(e).splitlines()[0]}") from None
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise AdaptlabError(f"cannot start from {folder}: its weights are not this configuration's "
                            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    model.tie_weights()


def pretrain(
    config: OrganismConfig,
    out: Path,
    log: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train and save the organism into `out` (resuming from `out/training_state` if present); returns the
    training record (curves, timing)."""
    from adaptlab.organism.tokenizer import build_organism_tokenizer

    tokenizer = build_organism_tokenizer(config.window)
    model = build_model(config, tokenizer)
    if config.start_from:
        _load_weights(model, Path(config.start_from))
    opt = _optimizer(model, config)

    def lr_at(step: int) -> float:
        if step < config.warmup_steps:
            return config.learning_rate * (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    record: dict[str, Any] = {"config": config.model_dump(), "loss": [], "probe": [],
                              "threads": torch.get_num_threads(), "seconds": 0.0}
    state = out / STATE
    first = 0
    if (state / "record.json").is_file():
        first, saved = _load_state(state, config, model, opt)
        record = {**saved, "config": config.model_dump()}
    model.train()
    start = time.perf_counter() - record["seconds"]
    smoothed = record["loss"][-1][1] if record["loss"] else None
    for step in range(first, config.steps):
        rng = random.Random(f"organism-{config.seed}-{step}")
        size = min(1.0, 0.1 + 0.9 * step / max(1, config.curriculum_steps))
        batch = encode_batch(tokenizer, draw_batch(rng, size, config), config.context_window)
        loss = statement_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        opt.step()
        smoothed = loss.item() if smoothed is None else 0.95 * smoothed + 0.05 * loss.item()
        if step % 25 == 0 or step == config.steps - 1:
            record["loss"].append([step, round(smoothed, 4)])
        if on_step:
            on_step(step + 1)
        if (step + 1) % config.eval_every == 0 or step == config.steps - 1:
            model.eval()
            with torch.inference_mode():
                acc = probe(model, tokenizer, config)
                acc["copy"] = copy_accuracy(model, tokenizer)
                acc["writes"] = writes_reversals(model, tokenizer)
            model.train()
            record["seconds"] = round(time.perf_counter() - start, 1)
            entry = {"step": step + 1, "seconds": record["seconds"], "loss": round(smoothed, 4),
                     **{k: round(v, 3) for k, v in acc.items()}}
            record["probe"].append(entry)
            _save_state(state, model, opt, record, step + 1)
            if log:
                log(entry)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "training.json").write_text(json.dumps(record, indent=1))
    # How adaptlab prompts it: after a context it writes what follows from it (see training/augment.py).
    meta = {"augmentation": "continue", "trained_by": "adaptlab organism train", "steps": config.steps}
    (out / "adaptlab.json").write_text(json.dumps(meta, indent=1) + "\n")
    return record
