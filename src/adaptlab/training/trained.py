"""A fine-tuning run's product on disk, `RUNDIR/work/<run id>/trained/`: the trained model as an ordinary model
folder (config, safetensors weights, tokenizer; a LoRA adapter is merged in) and `trained.json` (the one-off costs
of augmenting and training, what the method decided, the loss curve, how many processes trained it).

`adaptlab finetune` writes it (under torchrun or accelerate launch, from the main process) and a later
`adaptlab run` of the same config evaluates it instead of training again. `trained.json` is written last, so its
presence means the folder is complete. The model folder also loads anywhere as a model (`--model PATH`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adaptlab.errors import AdaptlabError
from adaptlab.models.base import LanguageModel, require_trainable
from adaptlab.store import CostRow

TRAINED = "trained"
RECORD = "trained.json"


@dataclass
class Trained:
    model: LanguageModel
    costs: list[CostRow]
    info: dict[str, Any]
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, logged training loss)


def save_trained(trained: Trained, folder: Path, processes: int = 1) -> None:
    import shutil

    if folder.exists():
        shutil.rmtree(folder)
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    weighted = require_trainable(trained.model, "saving a trained model")
    model = weighted.torch_model
    if any(type(p).__name__ == "DTensor" for p in model.parameters()):
        # FSDP leaves each process a shard; saving it would write a wrong model. (Not reachable on CPU, where
        # accelerate trains an FSDP config with DDP; gathering the shards is still to be done and verified on GPUs.)
        raise AdaptlabError("the trained model is sharded across processes (FSDP): saving it whole is not supported "
                            "yet; fine-tune with configs/accelerate/ddp.yaml or deepspeed_zero2.yaml")
    model.save_pretrained(partial / "model")
    weighted.tokenizer.save_pretrained(partial / "model")
    if weighted.meta:
        (partial / "model" / "adaptlab.json").write_text(json.dumps(dict(weighted.meta)))
    record = {"name": trained.model.name, "costs": [asdict(c) for c in trained.costs], "info": trained.info,
              "losses": trained.losses, "processes": processes}
    (partial / RECORD).write_text(json.dumps(record, indent=1))
    partial.rename(folder)


def load_trained(folder: Path, base: LanguageModel) -> Trained | None:
    """The trained model in `folder`, on the device and in the dtype of `base`; None if there is none."""
    if not (folder / RECORD).is_file():
        return None
    from adaptlab.models.hf_load import load_pretrained

    record = json.loads((folder / RECORD).read_text())
    weighted = require_trainable(base, "a trained model")
    dtype = next(weighted.torch_model.parameters()).dtype
    # The trained weights in the base's backend: its tokenizer, prompt format and settings (`with_weights`).
    module, _, _ = load_pretrained(folder / "model", device=weighted.device, dtype=dtype)
    model = weighted.with_weights(module, name=record["name"])
    info = {**record["info"], "trained_by_processes": record["processes"]}
    return Trained(model=model, costs=[CostRow(**c) for c in record["costs"]], info=info,
                   losses=[tuple(x) for x in record["losses"]])
