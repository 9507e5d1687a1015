"""The organism's sequences as model inputs: token ids, loss labels and attention masks."""

from __future__ import annotations

from typing import Any

import torch

from adaptlab.organism.worlds import SEPARATOR, Sequence


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
