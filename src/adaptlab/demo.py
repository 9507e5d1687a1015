"""`adaptlab demo`: the study in CPU minutes — datasets sized to the model × pretrained, icl, ft, aug-ft (the model's
own generated inferences), aug-oracle-ft × seeds, then the report.

The presets are ordinary run configs shipped with the package (`adaptlab/configs/demo_organism.yaml`, and
`demo_llm.yaml` for any other model), so `adaptlab run` takes them too. With the default model, the organism (a small
transformer adaptlab trained to learn in context, shipped with the package), the whole demo runs in minutes on 2 CPU
cores. `--model smollm2` runs the same study with the real pretrained LLM (LoRA fine-tuning; slower, and the model is
too small to learn nonsense-word facts in context).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from adaptlab.runs import RunConfig, load_config


def preset_path(model: str) -> Path:
    """The shipped demo config for `model`: the organism's, or the one for any other model."""
    name = "demo_organism.yaml" if model == "organism" else "demo_llm.yaml"
    return Path(str(resources.files("adaptlab.configs") / name))


def demo_config(model: str) -> RunConfig:
    config = load_config(preset_path(model))
    return config if model == "organism" else config.model_copy(update={"models": [model]})
