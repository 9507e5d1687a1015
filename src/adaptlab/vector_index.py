"""Dense retrieval's vector index: FAISS over L2-normalised embeddings (inner product = cosine similarity), built once
per corpus and embedder and kept on disk beside the runs that use it.

Kinds (`retriever_index`): `flat` (exact: every document scored, `IndexFlatIP`), `ivf` (approximate: the vectors
clustered into `nlist` lists by k-means, a query scores the documents of its `nprobe` nearest lists,
`IndexIVFFlat`) and `hnsw` (approximate: a navigable small-world graph, `IndexHNSWFlat`). Unset, the kind is flat up
to `EXACT_UP_TO` documents and ivf above (docs/benchmarks.md has the measurements behind the threshold).

Rankings are deterministic and, for `flat`, the same as scoring every document with numpy: best first, ties kept in
document order (FAISS's own order among equal scores is not specified, so results are re-sorted by (score, index),
fetching more candidates while a tie reaches past the last one).

On disk an index is two files in a folder shared by runs (`indexes/` in the run folder's cache): `NAME.faiss`
(FAISS's own `write_index` format, no pickles) and `NAME.json`, its record: the key it was built for (a digest of
the corpus' texts, the embedder and the kind), its size, the SHA-256 of the `.faiss` file and what building it cost.
An index is loaded only when its record is readable, names the same key, and the file's digest matches; otherwise
it is rebuilt, and the reason is one line (`IndexStatus`). A lock file serialises processes building the same index.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from adaptlab.errors import AdaptlabError
from adaptlab.paths import writable_dir

IndexKind = Literal["flat", "ivf", "hnsw"]
KINDS: tuple[str, ...] = ("flat", "ivf", "hnsw")
EXACT_UP_TO = 200_000  # documents: above this, an unset `retriever_index` is ivf
FORMAT = 1  # of the record; a record of another format is rebuilt
TRAIN_PER_LIST = 40  # k-means of an ivf index trains on at most this many vectors per list (a fixed sample)
KMEANS_ITERATIONS = 10
HNSW_M = 32  # graph neighbours per vector
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 128


def faiss_module() -> Any:
    try:
        import faiss
    except ImportError:
        raise AdaptlabError("dense retrieval needs the package faiss-cpu (pip install faiss-cpu==1.15.1)") from None
    return faiss


def choose_kind(requested: str | None, n: int) -> str:
    """The index kind for `n` vectors: the one requested, else exact up to `EXACT_UP_TO` and ivf above."""
    if requested is not None:
        if requested not in KINDS:
            raise AdaptlabError(f"unknown vector index {requested!r}; known: {', '.join(KINDS)}")
        return requested
    return "flat" if n <= EXACT_UP_TO else "ivf"


def ivf_lists(n: int) -> int:
    """Lists of an IVF index over `n` vectors: about √n, with at least 39 training vectors per list (k-means)."""
    return max(1, min(round(math.sqrt(n)), n // 39))


def ivf_probes(nlist: int) -> int:
    """Lists a query visits: 1/16 of them, at least 8 (all of them when there are fewer)."""
    return min(nlist, max(8, nlist // 16))


def corpus_digest(texts: Sequence[str]) -> str:
    """SHA-256 of the texts in order (each with its length, so that no two corpora share a digest)."""
    h = hashlib.sha256()
    for text in texts:
        data = text.encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class VectorIndex:
    """A FAISS index over unit vectors, searched by inner product."""

    def __init__(self, index: Any, kind: str):
        self.faiss = faiss_module()
        self.index = index
        self.kind = kind
        self.n = int(index.ntotal)
        self.dim = int(index.d)

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str) -> VectorIndex:
        faiss = faiss_module()
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = x.shape
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "ivf":
            nlist = ivf_lists(n)
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = 1234  # k-means' initial centroids
            index.cp.niter = KMEANS_ITERATIONS
            sample = np.random.default_rng(0).choice(n, TRAIN_PER_LIST * nlist, replace=False) \
                if n > TRAIN_PER_LIST * nlist else slice(None)
            index.train(x[sample])
            index.nprobe = ivf_probes(nlist)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        else:
            raise AdaptlabError(f"unknown vector index {kind!r}; known: {', '.join(KINDS)}")
        index.add(x)
        return cls(index, kind)

    @classmethod
    def from_bytes(cls, data: bytes, kind: str) -> VectorIndex:
        faiss = faiss_module()
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if kind == "ivf":
            faiss.extract_index_ivf(index).nprobe = ivf_probes(faiss.extract_index_ivf(index).nlist)
        return cls(index, kind)

    def to_bytes(self) -> bytes:
        return self.faiss.serialize_index(self.index).tobytes()

    @functools.cached_property
    def nbytes(self) -> int:
        """Bytes of the index as FAISS writes it (the vectors, and the lists or graph of an approximate one)."""
        return len(self.to_bytes())

    @property
    def exact(self) -> bool:
        return self.kind == "flat"

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = max(HNSW_EF_SEARCH, k)
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def search(self, queries: np.ndarray, k: int) -> list[list[int]]:
        """For each query, the indices of the k best vectors, best first, ties in index order."""
        k = min(k, self.n)
        if k <= 0:
            return [[] for _ in range(len(queries))]
        out = []
        fetch = min(self.n, 2 * k + 8)
        scores, ids = self._search(queries, fetch)
        for q in range(len(queries)):
            s, i = scores[q], ids[q]
            # A tie with the k-th score at the last candidate may continue among vectors not fetched (and FAISS
            # picks among equal scores in no specified order): fetch twice as many until the tie ends.
            wider = fetch
            while wider < self.n and i[-1] >= 0 and s[-1] >= s[k - 1]:
                wider = min(self.n, 2 * wider)
                more_s, more_i = self._search(queries[q : q + 1], wider)
                s, i = more_s[0], more_i[0]
            keep = i >= 0
            s, i = s[keep], i[keep]
            order = np.lexsort((i, -s))
            out.append([int(x) for x in i[order][:k]])
        return out

    def search_flops(self, queries: int) -> float:
        """Estimated FLOPs of searching `queries` queries (2·dim per vector scored): every vector for flat; the list
        centroids and `nprobe` lists' vectors for ivf; about efSearch·M visited neighbours for hnsw."""
        if self.kind == "flat":
            scored = float(self.n)
        elif self.kind == "ivf":
            ivf = self.faiss.extract_index_ivf(self.index)
            scored = ivf.nlist + ivf.nprobe * self.n / ivf.nlist
        else:
            scored = min(float(self.n), float(HNSW_EF_SEARCH * HNSW_M))
        return 2.0 * self.dim * scored * queries

    def vectors(self) -> np.ndarray:
        """Every stored vector, in index order (an ivf index gets a direct map for this)."""
        if self.kind == "ivf":
            self.faiss.extract_index_ivf(self.index).make_direct_map()
        return self.index.reconstruct_n(0, self.n)

    def recall(self, queries: np.ndarray, k: int) -> float:
        """Recall@k of this index's search against exact search over the same vectors (1.0 for flat)."""
        k = min(k, self.n)
        if self.exact or k == 0 or len(queries) == 0:
            return 1.0
        found = self.search(queries, k)
        exact = VectorIndex.build(self.vectors(), "flat").search(queries, k)
        return sum(len(set(a) & set(b)) for a, b in zip(found, exact, strict=True)) / (k * len(queries))


@dataclass(frozen=True)
class BuildCost:
    """What building an index cost: measured seconds, the embedder's tokens and estimated FLOPs, and the largest
    memory estimate (embedder weights + embeddings + index)."""

    seconds: float
    tokens: int
    flops: float
    peak_bytes: int


@dataclass(frozen=True)
class IndexStatus:
    """How the index came to be: `built` (none on disk), `loaded`, or `rebuilt` with the one-line reason."""

    action: Literal["built", "loaded", "rebuilt"]
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.action}: {self.reason}" if self.reason else self.action


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(index_file: Path, record_file: Path, key: str, kind: str) -> tuple[VectorIndex, BuildCost] | str:
    """The stored index and its build cost, or why it cannot be used (one line)."""
    if not index_file.exists() and not record_file.exists():
        return ""
    try:
        record = json.loads(record_file.read_text())
        if not isinstance(record, dict):
            raise ValueError
    except (OSError, ValueError):
        return f"{record_file}: its record is missing or not JSON"
    if record.get("format") != FORMAT or record.get("key") != key:
        return f"{record_file}: a record of another corpus, embedder, kind or format"
    try:
        data = index_file.read_bytes()
    except OSError as e:
        return f"{index_file}: cannot read ({e.strerror})"
    if hashlib.sha256(data).hexdigest() != record.get("sha256"):
        return f"{index_file}: its content does not match its record (corrupted or replaced)"
    try:
        index = VectorIndex.from_bytes(data, kind)
        cost = BuildCost(**record["build"])
    except (RuntimeError, TypeError, KeyError):
        return f"{index_file}: not an index FAISS can read"
    if index.n != record.get("vectors") or index.dim != record.get("dim"):
        return f"{index_file}: holds {index.n} vectors of {index.dim} dims, its record says otherwise"
    return index, cost


def open_index(
    folder: Path | None, key: str, kind: str, build: Callable[[], np.ndarray],
    estimate: Callable[[np.ndarray], BuildCost],
) -> tuple[VectorIndex, BuildCost, IndexStatus]:
    """The index stored in `folder` under `key`, or one built now and stored there (`folder` None: built and kept
    in memory only). `build()` gives the vectors and `estimate(vectors)` the tokens, FLOPs and memory of computing
    them; the seconds of building are measured here. A stored index that cannot be used is rebuilt; the status
    says why."""
    if folder is None:
        index, cost = _build(kind, build, estimate)
        return index, cost, IndexStatus("built")
    writable_dir(folder, "index folder")
    name = f"dense-{kind}-{key[:20]}"
    index_file, record_file = folder / f"{name}.faiss", folder / f"{name}.json"
    with _locked(folder / f"{name}.lock"):
        found = _load(index_file, record_file, key, kind)
        if isinstance(found, tuple):
            return found[0], found[1], IndexStatus("loaded")
        index, cost = _build(kind, build, estimate)
        data = index.to_bytes()
        _write_atomic(index_file, data)
        record = {"format": FORMAT, "key": key, "kind": kind, "vectors": index.n, "dim": index.dim,
                  "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "build": asdict(cost)}
        _write_atomic(record_file, (json.dumps(record, indent=1) + "\n").encode())
        return index, cost, IndexStatus("rebuilt", found) if found else IndexStatus("built")


def _build(kind: str, build: Callable[[], np.ndarray], estimate: Callable[[np.ndarray], BuildCost],
           ) -> tuple[VectorIndex, BuildCost]:
    start = time.perf_counter()
    vectors = build()
    index = VectorIndex.build(vectors, kind)
    seconds = time.perf_counter() - start
    cost = estimate(vectors)
    return index, BuildCost(seconds=seconds, tokens=cost.tokens, flops=cost.flops,
                            peak_bytes=cost.peak_bytes + vectors.nbytes + index.nbytes)
