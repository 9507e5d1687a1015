"""From a folder of text files to a recommendation, through the command line: `data import folder`, `data
synthesize` with a served writer, `run` (a small local model adapted by several methods), `report`, `recommend`.

The writer is a small OpenAI-compatible server written here (the usual shape: a hosted model writes the questions,
a small local one is adapted): it writes fixed question-answer pairs about the document in its prompt, and answers
a question right only when the document that states the answer is in the prompt.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from adaptlab.data.io import load_dataset
from adaptlab.models import prompts
from adaptlab.store import Store

# Invented facts, two files, three paragraphs of 16-19 words: one document each when cut at 24 words.
FILES = {
    "harbour.txt": "Velmora is a harbour town on the island of Quessa. Its lighthouse was built in 1871 by the "
                   "engineer Tobin Marsh.\n\nThe Velmora ferry sails to the port of Dunhallow twice a day; the "
                   "crossing takes ninety minutes.\n",
    "orchard.md": "The Brisk apple was bred by Ilse Varga at the Kerrow orchard in 1932. It ripens in late "
                  "October.\n",
}
# What the writer writes about the paragraph that contains the key: (question, answer) pairs, in order.
PAIRS = {
    "lighthouse was built": [
        ("Who built the lighthouse of Velmora?", "Tobin Marsh"),
        ("In which year was the Velmora lighthouse built?", "1871"),
        ("Where?", "Quessa"),  # malformed: a question of fewer than three words
    ],
    "ferry sails": [
        ("Which port does the Velmora ferry sail to?", "Dunhallow"),
        ("What is the capital of France?", "Paris"),  # trivial: answered without the document
    ],
    "Brisk apple": [
        ("Who bred the Brisk apple?", "Ilse Varga"),
        ("At which orchard was the Brisk apple bred?", "the Kerrow orchard"),
    ],
}
KNOWN_WITHOUT_DOCUMENT = {"What is the capital of France?": "Paris"}
KEPT = 5  # the pairs above that are well formed, answered with their document and not without
WRITER = "writer"


def _reply(prompt: str) -> str:
    """The writer's deterministic completion of `prompt`."""
    if prompt.endswith(prompts.SYNTH_PROMPT) and "Write " in prompt:
        pairs = next(p for key, p in PAIRS.items() if key in prompt)
        return "".join(f" {q}\nA: {a}\nQ:" for q, a in pairs).removesuffix("Q:")
    asked = re.search(r"Question: (.*)\nAnswer:$", prompt)
    if asked is None:
        return " I do not know."
    question, context = asked.group(1), prompt[: asked.start()]
    for key, pairs in PAIRS.items():
        for q, a in pairs:
            if q == question and key in context:
                return f" {a}\n"
    return f" {KNOWN_WITHOUT_DOCUMENT.get(question, 'I do not know')}\n"


class _Writer(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.requests.append(self.path)
        self._send({"object": "list", "data": [{"id": WRITER, "object": "model", "max_model_len": 2048}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(self.path)
        if not self.path.endswith("/completions"):
            self.send_error(404)
            return
        text = _reply(body["prompt"])
        for stop in body.get("stop") or []:
            text = text.split(stop)[0] if stop in text else text
        usage = {"prompt_tokens": len(body["prompt"].split()), "completion_tokens": len(text.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        self._send({"object": "text_completion", "model": WRITER, "usage": usage,
                    "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}]})


@pytest.fixture
def writer() -> Iterator[tuple[str, list[str]]]:
    """A served writer: (model spec, the paths it was asked for)."""
    _Writer.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Writer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        yield f"openai:{url}#model={WRITER},context_window=2048,check=off,cache=off", _Writer.requests
    finally:
        server.shutdown()
        server.server_close()


def test_from_a_folder_of_text_files_to_a_recommendation(tmp_path: Path, cli, writer):
    spec, served = writer
    notes = tmp_path / "notes"
    notes.mkdir()
    for name, text in FILES.items():
        (notes / name).write_text(text)

    # 1. The folder as documents (paragraphs joined up to 24 words: here one each), no questions.
    code, out, err = cli("data", "import", "folder", notes, "--out", tmp_path / "docs", "--max-tokens", "24")
    assert code == 0, err
    imported = load_dataset(tmp_path / "docs")
    assert len(imported.documents) == 3 and imported.questions == []
    assert sorted({d.source for d in imported.documents}) == sorted(FILES)

    # 2. Questions written by the served writer, kept only when its document answers them.
    code, out, err = cli("data", "synthesize", tmp_path / "docs", "--model", spec, "--out", tmp_path / "qa",
                         "--cache", tmp_path / "generations.sqlite")
    assert code == 0, err
    assert f"7 written: {KEPT} kept, 1 malformed, 0 extra, 0 unanswerable, 1 trivial" in out
    assert any(path.endswith("/completions") for path in served)
    dataset = load_dataset(tmp_path / "qa")
    assert [d.text for d in dataset.documents] == [d.text for d in imported.documents]
    assert {q.split for q in dataset.questions} == {"rephrase"} and len(dataset.questions) == KEPT
    references = {q.answers[0] for q in dataset.questions}
    assert references == {"Tobin Marsh", "1871", "Dunhallow", "Ilse Varga", "the Kerrow orchard"}
    assert all(q.is_open and q.prompt.startswith("Question: ") for q in dataset.questions)

    # 3. A small local model adapted by four methods on the written questions.
    config = tmp_path / "config.yaml"
    config.write_text(
        "models: [tiny]\n"
        f"datasets:\n  - path: {tmp_path / 'qa'}\n"
        "methods: [pretrained, icl, rag, ft]\n"
        "seeds: [0]\n"
        "options: {k: 2, finetune: {steps: 2, batch_size: 2}}\n"
    )
    rundir = tmp_path / "run"
    code, out, err = cli("run", config, "--out", rundir)
    assert code == 0, err
    with Store(rundir / "results.sqlite") as store:
        results = [store.result(row["run_id"]) for row in store.runs()]
    assert sorted(r.method for r in results) == ["ft", "icl", "pretrained", "rag"]
    best = 0.0
    for r in results:
        metrics = {m.metric: m.accuracy for m in r.metrics if m.split == "rephrase"}
        assert {"exact_match", "f1", "contains", "answer_logprob"} <= set(metrics), (r.method, metrics)
        assert len(r.answers) == KEPT and {a.reference for a in r.answers} == references
        assert metrics["contains"] == sum(a.contains for a in r.answers) / KEPT
        best = max(best, metrics["contains"])

    # 4. The report reads the open split by its metric and shows the answers.
    code, out, err = cli("report", rundir)
    assert code == 0, err
    md = (rundir / "report.md").read_text()
    assert "rephrase (exact_match, chance 0.00)" in md and "Generated answers" in md and "Tobin Marsh" in md

    # 5. A decision, or the plain statement that no method reaches the target.
    code, out, err = cli("recommend", rundir, "--split", "rephrase", "--open-metric", "contains")
    assert code == 0, err
    out = " ".join(out.split())  # the console wraps long lines
    if best > 0:
        assert re.search(r"use \*\*(pretrained|icl|rag|ft)", out), out
    else:  # the tiny model answers nothing right: nothing is above chance (0 for open questions), and it says so
        assert "no method that can be deployed reaches an accuracy above chance" in out, out
