"""`adaptlab organism train`: pretrain the model organism on the stream of random worlds (see worlds.py).

A Llama (the same transformers classes as every other backend: rotary positions, the same scoring, LoRA and
generation code) with a word-level tokenizer over the project's language. Plain PyTorch loop, AdamW, warm-up then
cosine decay, loss on the statements only. Every `eval_every` steps the organism is probed on fresh held-out worlds
with the real evaluation code (ICL multiple choice on reversal and syllogism questions), and the learning curves
are saved with the checkpoint.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from adaptlab.organism.worlds import MAX_FACTS, MAX_SYLLOGISMS, SEPARATOR, copy_sequence, draw_world


class OrganismConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 512
    context_window: int = 512
    steps: int = 3000
    batch_size: int = 16
    learning_rate: float = 2e-3
    warmup_steps: int = 200
    curriculum_steps: int = 1000  # worlds grow from tiny to full size over these steps
    weight_decay: float = 0.01
    seed: int = 0
    eval_every: int = 250
    eval_worlds: int = 4
    copy_share: float = 0.25  # share of plain copying sequences (induction-head warm-up), see worlds.py
    all_statements: bool = True  # every statement of a world after it (else 2-8 of them)


def build_model(config: OrganismConfig, tokenizer: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    llama = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.layers, num_attention_heads=config.heads, num_key_value_heads=config.heads,
        max_position_embeddings=config.context_window, rope_theta=10000.0, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(config.seed)
    return LlamaForCausalLM(llama)


def make_batch(tokenizer: Any, rng: random.Random, size: float, config: OrganismConfig) -> dict[str, Any]:
    from adaptlab.data.lexicon import candidate_words

    batch_size, max_len = config.batch_size, config.context_window
    rows = []
    for _ in range(batch_size):
        if rng.random() < config.copy_share:
            w = copy_sequence(rng, candidate_words())
        else:
            w = draw_world(rng, size, config.all_statements)
        ctx = tokenizer(w.context + SEPARATOR, add_special_tokens=True)["input_ids"]
        stm = tokenizer(w.statements, add_special_tokens=False)["input_ids"]
        ids = (ctx + stm)[:max_len]
        labels = ([-100] * len(ctx) + stm)[:max_len]
        rows.append((ids, labels))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.full((batch_size, width), pad)
    labels = torch.full((batch_size, width), -100)
    mask = torch.zeros((batch_size, width), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


def statement_loss(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """Next-token loss on the statement tokens only, computing the output layer only where it is needed (with a
    vocabulary of ~8.6k words the full logits would cost as much as the rest of the model)."""
    hidden = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    logits = model.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits, targets[keep])


def probe(model: Any, tokenizer: Any, config: OrganismConfig, seed: int = 0) -> dict[str, float]:
    """ICL accuracy on held-out worlds (seeds 0..), through the real evaluation path."""
    from adaptlab.data import simple_reversals, simple_syllogisms
    from adaptlab.evaluate import predict
    from adaptlab.models.base import ScoreRequest
    from adaptlab.models.transformers_backend import TransformersModel

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


def pretrain(
    config: OrganismConfig,
    out: Path,
    log: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train and save the organism into `out`; returns the training record (curves, timing)."""
    from adaptlab.organism.tokenizer import build_organism_tokenizer

    tokenizer = build_organism_tokenizer(config.context_window)
    model = build_model(config, tokenizer)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        if step < config.warmup_steps:
            return config.learning_rate * (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    rng = random.Random(f"organism-{config.seed}")
    record: dict[str, Any] = {"config": config.model_dump(), "loss": [], "probe": [],
                              "threads": torch.get_num_threads()}
    start = time.perf_counter()
    smoothed = None
    for step in range(config.steps):
        size = min(1.0, 0.1 + 0.9 * step / max(1, config.curriculum_steps))
        batch = make_batch(tokenizer, rng, size, config)
        model.train()
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
            entry = {"step": step + 1, "seconds": round(time.perf_counter() - start, 1), "loss": round(smoothed, 4),
                     **{k: round(v, 3) for k, v in acc.items()}}
            record["probe"].append(entry)
            if log:
                log(entry)
    record["seconds"] = round(time.perf_counter() - start, 1)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "training.json").write_text(json.dumps(record, indent=1))
    # How adaptlab prompts it: after a context it writes what follows from it (see training/augment.py).
    meta = {"augmentation": "continue", "trained_by": "adaptlab organism train", "steps": config.steps}
    (out / "adaptlab.json").write_text(json.dumps(meta, indent=1) + "\n")
    return record
