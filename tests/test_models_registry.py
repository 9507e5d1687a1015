"""Loading models by alias, folder, file or hub id; errors; the tiny model's build; thread settings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from adaptlab.errors import AdaptlabError
from adaptlab.models import LanguageModel, ScoreRequest, load_model
from adaptlab.models.aliases import smollm2_gguf
from adaptlab.models.tiny import build_tiny, tiny_path
from adaptlab.threads import ONE_THREAD_BELOW, configure_threads, physical_cores


def one_line_error(spec: str, **kwargs) -> str:
    with pytest.raises(AdaptlabError) as err:
        load_model(spec, **kwargs)
    message = str(err.value)
    assert message and "\n" not in message
    return message


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_unknown_model_says_what_was_tried(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    message = one_line_error("no-such-model-xyz")
    assert "unknown model 'no-such-model-xyz'" in message
    tries = ("not an alias (organism, tiny, smollm2)", "not a local folder", "not a .gguf file", "Hugging Face cache")
    for tried in tries:
        assert tried in message
    assert "unknown model" in one_line_error("someone/not-cached-model")


def test_a_mistyped_alias_does_not_try_an_unreachable_hub(monkeypatch):
    """Without a network, a mistyped alias fails at once with the known aliases (not after a minute of hub
    retries): the hub is probed once, found unreachable, and the process is set offline."""
    import socket

    with socket.socket() as s:  # a local port that nothing listens on: the hub "cannot be reached"
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    message = one_line_error("smolm2")
    assert "not an alias (organism, tiny, smollm2)" in message
    assert "the hub cannot be reached" in message and "did you mean 'smollm2'?" in message
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # transformers will not retry the hub in this process


def test_missing_files_and_unusable_folders(tmp_path):
    assert "no such file" in one_line_error(str(tmp_path / "missing.gguf"))
    assert "no such file" in one_line_error("./not/here")
    (tmp_path / "notes.txt").write_text("hi")
    assert "not a .gguf file" in one_line_error(str(tmp_path / "notes.txt"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "has no config.json" in one_line_error(str(empty))
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"")
    message = one_line_error(str(pickled))
    assert "safetensors" in message and "pickled" in message


def test_a_broken_folder_is_a_one_line_error(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "llama"}')
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    assert "could not load model" in one_line_error(str(broken))


def test_bad_device_or_dtype():
    if not torch.cuda.is_available():
        assert "CUDA is not available" in one_line_error("tiny", device="cuda")
    assert "unknown device" in one_line_error("tiny", device="tpu")
    assert "unknown dtype" in one_line_error("tiny", dtype="float64")


def test_tiny_loads_by_alias_and_by_folder():
    by_alias = load_model("tiny", device="cpu")
    by_folder = load_model(str(tiny_path()), device="cpu")
    assert isinstance(by_alias, LanguageModel)
    assert by_alias.name == "tiny" and by_alias.device == "cpu"
    assert by_alias.context_window == 4096 and 100_000 < by_alias.n_params < 2_000_000
    assert next(by_alias.model.parameters()).dtype == torch.float32  # the CPU default
    request = [ScoreRequest("Some context.", "The glon is", ("heavier", "lighter"))]
    assert by_alias.score(request)[0] == by_folder.score(request)[0]
    assert load_model("tiny", device="cpu", dtype="bfloat16").model.dtype == torch.bfloat16


def test_tiny_builds_deterministically_and_small(tmp_path):
    a = build_tiny(tmp_path / "a")
    b = build_tiny(tmp_path / "b")
    # what keeps its build (and every test that loads it) quick: well under 2M float32 parameters
    assert (a / "model.safetensors").stat().st_size < 8_000_000
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert sha256(a / name) == sha256(b / name)
    assert not (a / "chat_template.jinja").exists()  # a base model


def test_tiny_is_built_into_the_cache_on_first_use(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTLAB_CACHE", str(tmp_path))
    path = tiny_path()
    assert path.parent == tmp_path / "models"
    assert (path / "model.safetensors").exists() and (path / "tokenizer.json").exists()
    assert tiny_path() == path  # second use: no rebuild
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary folders left behind


def test_configure_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
        assert configure_threads() == 1
        assert torch.get_num_threads() == 1
        import os

        assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
        # A value that is not a positive integer is ignored: the same choice as when it is unset.
        for junk in ("junk", "0", "-2", "1.5", ""):
            monkeypatch.setenv("OMP_NUM_THREADS", junk)
            torch.set_num_threads(1 if physical_cores() > 1 else 2)  # not the expected value, so a change shows
            assert configure_threads() == physical_cores() == torch.get_num_threads()
            assert configure_threads(n_params=ONE_THREAD_BELOW - 1) == 1 == torch.get_num_threads()
            assert configure_threads(n_params=ONE_THREAD_BELOW) == physical_cores()
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_smollm2_cached_weights_score_like_the_gguf(monkeypatch):
    """The de-quantized safetensors cache gives exactly the scores of loading the GGUF file itself."""
    gguf = smollm2_gguf()
    from_cache = load_model("smollm2", device="cpu")
    from_file = load_model(str(gguf), device="cpu")
    assert from_cache.context_window == from_file.context_window == 8192
    assert from_cache.n_params == from_file.n_params
    assert from_cache.render_prefix("ctx") == from_file.render_prefix("ctx")
    request = [ScoreRequest("The femp is heavier than the glon.", "The glon is", ("lighter than the femp", "heavier"))]
    assert from_cache.score(request)[0] == from_file.score(request)[0]


def test_a_small_model_runs_on_one_thread_unless_told_otherwise(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        load_model("tiny", device="cpu")
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        load_model("tiny", device="cpu")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
