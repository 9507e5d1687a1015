"""The demo's presets: shipped run configs, sized so that every split has statistical power and every in-context
prompt fits the organism's window."""

import math

from adaptlab.data.records import Dataset
from adaptlab.data.registry import generator
from adaptlab.demo import demo_config, preset_path
from adaptlab.runs import load_config


def test_presets_are_ordinary_configs_shipped_with_the_package():
    for model in ("organism", "smollm2"):
        path = preset_path(model)
        assert path.is_file() and path.parent.name == "configs"
        assert load_config(path).methods == demo_config(model).methods
    assert demo_config("smollm2").models == ["smollm2"] and demo_config("organism").models == ["organism"]


def test_organism_demo_has_power_and_fits_the_organism():
    import torch

    from adaptlab.models.prompts import SEPARATOR
    from adaptlab.models.registry import load_model

    torch.set_num_threads(1)
    config = demo_config("organism")
    lm = load_model("organism")
    for spec in config.datasets:
        module = generator(spec.name)
        per_split: dict[str, int] = {}
        for seed in spec.seeds_in(config):
            g = module.generate(seed, **spec.params)
            ds = Dataset(spec.name, g.documents, g.questions, g.oracle)
            for split in ds.splits:
                per_split[split] = per_split.get(split, 0) + len(ds.split(split))
            context = SEPARATOR.join(d.text for d in g.documents)
            longest = max(lm.count_tokens(q.prompt) + max(lm.count_tokens(c) for c in q.choices) for q in g.questions)
            assert lm.count_tokens(context) + longest + 4 <= lm.context_window, (spec.name, seed)
        for split, n in per_split.items():
            # the binomial standard error of a cell at 0.5, the worst case, within 0.06 (0.05 needs 100 questions)
            assert math.sqrt(0.25 / n) <= 0.06, (spec.name, split, n)
