"""Fine-tuning through the standard Hugging Face APIs: `Trainer`, with a LoRA adapter from `peft` or all weights.

Each example is rendered exactly as the model is later scored with no context — `model.render_prefix(context)`
(for a chat model: the user turn and the assistant header) followed by the target text — and the loss is on the
target tokens only. So the facts are learned in the format in which they are tested.
Checkpoints are written every `save_steps` to `workdir/checkpoints`; a rerun resumes from the last one. The
Trainer also saves the last step and keeps one checkpoint, so a finished run keeps `checkpoint-<steps>`
(`final_checkpoint`): the trained LoRA adapter in PEFT's format (adapter_config.json + adapter_model.safetensors)
or, for full fine-tuning, all the weights — with the optimizer's state (about 12 bytes per parameter for full
fine-tuning in float32, a few MB for an adapter). `adaptlab export` ships the artefact from there. The
trained model comes back as a `LanguageModel` (a LoRA adapter is merged into a copy of the base weights) and the
run's cost is metered: trained tokens, estimated FLOPs (6·N per token for full fine-tuning; 4·N for LoRA, whose
backward pass computes activation gradients but no base-weight gradients), seconds and peak memory.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from adaptlab.costs import metered, train_flops
from adaptlab.errors import AdaptlabError
from adaptlab.models.base import LanguageModel, TrainableModel, require_trainable
from adaptlab.options import FinetuneConfig
from adaptlab.progress import report as report_progress
from adaptlab.store import CostRow
from adaptlab.training.examples import Example


class _Tokenized(torch.utils.data.Dataset):
    def __init__(self, rows: list[dict[str, list[int]]]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.rows[i]


def tokenize_examples(lm: TrainableModel, examples: list[Example], max_length: int) -> list[dict[str, list[int]]]:
    """input_ids = the whole text render_prefix(context) + target, tokenized as scoring tokenizes it (one piece,
    with the model's special tokens); labels = -100 on the prefix's tokens (loss on the target only)."""
    encode_prefix = lm.encode_prefix
    prefix_len: dict[str, int] = {}
    rows = []
    for ex in examples:
        prefix = lm.render_prefix(ex.context)
        if prefix not in prefix_len:
            prefix_len[prefix] = len(encode_prefix(prefix))
        ids = encode_prefix(prefix + ex.target)
        n_target = len(ids) - prefix_len[prefix]
        ids = ids[-max_length:]
        n_target = min(n_target, len(ids))
        labels = [-100] * (len(ids) - n_target) + ids[len(ids) - n_target :]
        rows.append({"input_ids": ids, "labels": labels})
    return rows


def _collate(pad_id: int) -> Callable[[list[dict[str, list[int]]]], dict[str, torch.Tensor]]:
    def collate(batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            labels[i, :n] = torch.tensor(r["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return collate


def finetune(
    lm: LanguageModel,
    examples: list[Example],
    config: FinetuneConfig,
    workdir: Path,
    seed: int,
) -> tuple[LanguageModel, CostRow, dict[str, Any]]:
    """Train a copy of `lm` on `examples`; returns the adapted model, the cost and a training log."""
    from transformers import PrinterCallback, ProgressCallback, Trainer, TrainerCallback, TrainingArguments, set_seed

    weighted = require_trainable(lm, "fine-tuning")
    config = config.for_examples(len(examples))  # `epochs`: its steps for these examples
    # Everything random from here on (LoRA's initial weights, dropout, data order) follows `seed` alone, not what
    # ran earlier in this process: a run that is resumed or run in another order trains the same model.
    set_seed(seed)
    base = weighted.torch_model
    model = copy.deepcopy(base)
    model.config.use_cache = False
    if config.mode == "lora":
        from peft import LoraConfig, get_peft_model

        peft_config = LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules, task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, peft_config)
    rows = tokenize_examples(weighted, examples, config.max_length)
    pad_id = weighted.pad_token_id
    checkpoints = workdir / "checkpoints"
    cuda = next(base.parameters()).is_cuda
    processes = world_size()
    if config.batch_size % processes:
        raise AdaptlabError(f"fine-tuning batch_size {config.batch_size} does not split over {processes} processes")
    args = TrainingArguments(
        output_dir=str(checkpoints),
        max_steps=config.steps,
        per_device_train_batch_size=config.batch_size // processes,  # the same global batch on any number
        ddp_backend=None if cuda or processes == 1 else "gloo",
        ddp_find_unused_parameters=False if processes > 1 else None,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        lr_scheduler_type="constant_with_warmup",
        logging_steps=max(1, config.steps // 20),
        save_steps=config.save_steps,
        save_total_limit=1,
        save_only_model=False,
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        use_cpu=not cuda,
        bf16=cuda and next(base.parameters()).dtype == torch.bfloat16,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        optim="adamw_torch",
    )
    losses: list[tuple[int, float]] = []

    class _Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append((state.global_step, float(logs["loss"])))

        def on_step_end(self, args, state, control, **kwargs):
            loss = losses[-1][1] if losses else math.nan
            report_progress("fine-tuning", state.global_step, config.steps, f"loss {loss:.3f}")

    trainer = Trainer(
        model=model, args=args, train_dataset=_Tokenized(rows), data_collator=_collate(pad_id),
        callbacks=[_Progress()],
    )
    for quiet in (PrinterCallback, ProgressCallback):  # progress is ours to show; no log dicts on stdout
        trainer.remove_callback(quiet)
    resume = last_complete_checkpoint(checkpoints)
    with metered() as meter, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    model = trainer.model
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if config.mode == "lora":
        model = model.merge_and_unload()
    model.config.use_cache = True
    model.eval()
    trained_tokens = _trained_tokens(rows, config)
    shape = lm.dims
    mean_len = sum(len(r["input_ids"]) for r in rows) / max(len(rows), 1)
    processed = config.steps * config.batch_size * mean_len
    meter.see(shape.param_bytes + shape.training_bytes(trainable, config.batch_size, round(mean_len)))
    cost = CostRow(
        phase="finetune", kind="one_off", tokens_trained=trained_tokens, tokens_processed=int(processed),
        flops=train_flops(shape, processed, mean_len, lora=config.mode == "lora"),
        seconds=meter.seconds, peak_memory_bytes=meter.peak_memory_bytes,
    )
    adapted = weighted.with_weights(model, name=f"{lm.name}+{config.mode}")
    log = {"examples": len(rows), "losses": losses, "resumed": resume is not None}
    return adapted, cost, log


def last_complete_checkpoint(checkpoints: Path) -> Path | None:
    """The newest `checkpoint-N` folder that the Trainer finished writing, or None.

    The Trainer writes a checkpoint's files one by one and `trainer_state.json` last, so a folder without it (or
    without weights or optimizer state) was cut short, e.g. by `kill -9`; such folders are removed so that they
    are neither resumed from nor counted by `save_total_limit`."""
    import shutil

    if not checkpoints.is_dir():
        return None
    found: list[tuple[int, Path]] = []
    for folder in checkpoints.glob("checkpoint-*"):
        step = folder.name.removeprefix("checkpoint-")
        if not folder.is_dir() or not step.isdigit():
            continue
        if _complete(folder):
            found.append((int(step), folder))
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return max(found)[1] if found else None


def final_checkpoint(workdir: Path, steps: int) -> Path | None:
    """The complete checkpoint of the last step of a fine-tuning run of `steps` steps in `workdir` (the weights the
    run was evaluated with), or None when the run kept none."""
    folder = workdir / "checkpoints" / f"checkpoint-{steps}"
    return folder if folder.is_dir() and _complete(folder) else None


def _complete(folder: Path) -> bool:
    import json

    try:
        json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return (folder / "optimizer.pt").is_file() and any(folder.glob("*.safetensors"))


def world_size() -> int:
    """Processes training together (torchrun and accelerate launch set WORLD_SIZE); 1 when run alone."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _trained_tokens(rows: list[dict[str, list[int]]], config: FinetuneConfig) -> int:
    per_example = sum(sum(1 for x in r["labels"] if x != -100) for r in rows) / max(len(rows), 1)
    return int(per_example * config.steps * config.batch_size)
