"""`adaptlab organism train`: pretrain the model organism on the stream of random worlds (see worlds.py).

An LFM2 (a transformers class, so scoring, LoRA and generation are the same code as for every other backend): two
short causal convolution layers (each token mixed with the five before it), then two attention layers with rotary
positions, 64 wide, with a ~200-token WordPiece vocabulary over the project's language (see tokenizer.py). Plain
PyTorch loop, AdamW, warm-up then cosine decay, loss on the answers and oracle sentences only. Every `eval_every`
steps the organism is probed on held-out worlds (probe.py), the learning curves are saved with the checkpoint,
and the training state is saved so that an interrupted run resumes where it stopped (each step's batch is drawn
from its own seed, so a resumed run is the same run).

How the shipped organism was trained, and why: docs/results/organism_training_notes.md.
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
from pydantic import BaseModel, ConfigDict, Field, model_validator

from adaptlab.organism.batches import encode_batch
from adaptlab.organism.probe import copy_accuracy, probe, writes_reversals
from adaptlab.organism.worlds import (
    MAX_FACTS,
    MAX_SYLLOGISMS,
    Sequence,
    copy_sequence,
    draw_world,
    recall_sequence,
)

STATE = "training_state"  # sub-folder of `out` holding what a resumed run needs


class OrganismConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hidden_size: int = Field(64, ge=1)
    layers: int = Field(4, ge=1)
    heads: int = Field(4, ge=1)
    intermediate_size: int = Field(256, ge=1)
    context_window: int = Field(512, ge=1)  # training rows are cut here
    # The window the model declares (max_position_embeddings): what evaluation may put in one sequence. Rotary
    # positions are relative, and retrieval trained on rows of up to `context_window` tokens carries over to
    # longer contexts (measured: rephrase 1.0 on 20-fact worlds, 350 tokens, after training on 10-fact worlds).
    window: int = Field(1024, ge=1)
    steps: int = Field(3000, ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(3e-3, gt=0)
    warmup_steps: int = Field(100, ge=0)
    curriculum_steps: int = Field(1500, ge=0)  # worlds grow from tiny to full size over these steps
    weight_decay: float = Field(0.01, ge=0)
    seed: int = Field(0, ge=0)
    eval_every: int = Field(250, ge=1)
    eval_worlds: int = Field(4, ge=1)
    # Shares of the rows that are not worlds (see worlds.py): the copying task (induction-head warm-up) and
    # associative recall (retrieval keyed by a whole word), of which a share is written "key are value".
    copy_share: float = Field(0.15, ge=0, le=1)
    recall_share: float = Field(0.25, ge=0, le=1)
    recall_connector_share: float = Field(0.0, ge=0, le=1)
    recall_ask_all: bool = False  # ask every key of a recall row (else a random number of them)
    recall_reverse_share: float = Field(0.0, ge=0, le=1)  # of the recall rows, the share asked value → key
    copy_filler_share: float = Field(0.0, ge=0, le=1)  # of the copying rows, the share with a filler word between
    # A world's questions before its oracle sentences, so that a reversal question can only be answered by finding
    # the fact by its object (worlds.py); with the oracle sentences mixed in, half of them could be answered by the
    # subject lookup and the organism learned to copy the stated comparative instead (v5).
    oracle_last: bool = True
    # Of the world rows, the share that carries the oracle sentences alone (no questions): what the organism writes
    # right after a context, which its own augmentations are (worlds.py).
    oracle_only_share: float = Field(0.0, ge=0, le=1)
    # The largest worlds of the stream: facts of a simple-reversals world (told in 1 to `max_articles` articles
    # each) and examples of a simple-syllogisms world. The defaults are the probe's worlds; a later stage can grow
    # them to the demo's (16 facts in 3 articles, 12-18 examples), with `context_window` to hold them.
    max_facts: int = Field(MAX_FACTS, ge=1)
    max_syllogisms: int = Field(MAX_SYLLOGISMS, ge=1)
    max_articles: int = Field(1, ge=1)
    # Of the world rows, the share drawn at the default sizes (`MAX_FACTS` facts in 1 article, `MAX_SYLLOGISMS`
    # examples) whatever the `max_*` above say: a later stage on larger worlds keeps the earlier stages' stream in
    # its mix, so that what they taught (precise writing after a short context) is not trained away.
    small_world_share: float = Field(0.0, ge=0, le=1)
    # "conv" or "full_attention" per layer: an LFM2, whose short causal convolutions mix each token with the ones
    # before it, so the attention layers above them can match a whole multi-piece word ("glon are" → its fact).
    # None: a Llama, attention in every layer (the v1-v3 organisms).
    layer_types: list[Literal["conv", "full_attention"]] | None = ["conv", "conv", "full_attention", "full_attention"]
    # Tokens each convolution mixes (the current one and conv_kernel - 1 before it). With 6, two convolutions reach
    # 11 tokens back: the end of "more efficient than sw ##e ##sk ." holds the comparative of the fact whose object it
    # is, which is what a reversal question looks up.
    conv_kernel: int = Field(6, ge=1)

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


def statement_loss(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """Next-token loss on the statement tokens only, computing the output layer only where it is needed."""
    hidden = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    logits = model.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits, targets[keep])


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
                acc = probe(model, tokenizer, config.eval_worlds)
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
