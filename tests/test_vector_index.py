"""Dense retrieval's FAISS index: exact rankings identical to scoring every document, stored once per corpus and
reused, rebuilt when its file is corrupted or foreign, approximate kinds with their recall measured. The real
embedder (all-MiniLM-L6-v2, offline) and the real FAISS throughout."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from adaptlab.data.records import Dataset
from adaptlab.errors import AdaptlabError
from adaptlab.evaluate import question_text
from adaptlab.methods import get_method
from adaptlab.options import MethodOptions
from adaptlab.retrieval import make_retriever
from adaptlab.vector_index import EXACT_UP_TO, VectorIndex, choose_kind, ivf_lists
from conftest import generated_dataset


def brute_force(queries: np.ndarray, documents: np.ndarray, k: int) -> list[list[int]]:
    """The dense retriever's ranking before it had an index: every document scored, ties in document order."""
    sims = queries @ documents.T
    return [[int(i) for i in np.lexsort((np.arange(len(row)), -row))[:k]] for row in sims]


@pytest.fixture(scope="module")
def corpus() -> Dataset:
    """A generated world whose documents repeat a few texts at the end: equal vectors, exact ties."""
    ds = generated_dataset("simple-reversals", 0, n_facts=24, articles_per_fact=3)
    repeats = [d.model_copy(update={"id": f"{d.id}-again"}) for d in ds.documents[:6]]
    return dataclasses.replace(ds, documents=[*ds.documents, *repeats])


def test_the_flat_index_ranks_as_scoring_every_document(corpus: Dataset, tmp_path: Path):
    docs = [d.text for d in corpus.documents]
    queries = [question_text(q) for q in corpus.questions] + docs[:6]  # a repeated text's own query: a tie at top
    retriever = make_retriever("dense", docs, folder=tmp_path)
    assert retriever.index_status == "built" and choose_kind(None, len(docs)) == "flat"
    expected = brute_force(retriever.embed(queries), retriever.embed(docs), 10)
    assert retriever.top_k(queries, 10) == expected
    assert expected[-1][:2] == [5, len(docs) - 1]  # both copies of document 5, the earlier first
    # The whole ranking: the same documents in the same order, except where two scores differ by float rounding
    # alone (FAISS's and numpy's sums round differently, and the order of such near-ties depends on the BLAS
    # threads), so compare the scores each ranking visits in turn.
    sims = retriever.embed(queries) @ retriever.embed(docs).T
    full = retriever.top_k(queries, len(docs) + 5)
    reference = brute_force(retriever.embed(queries), retriever.embed(docs), len(docs))
    for row, got, want in zip(sims, full, reference, strict=True):
        assert sorted(got) == list(range(len(docs)))
        assert np.allclose(row[got], row[want], rtol=0, atol=1e-6)


def test_ties_past_the_fetched_candidates_keep_document_order():
    """Twenty equal vectors and k = 3: FAISS's order among them is unspecified; ours is the documents'."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((60, 8)).astype(np.float32)
    vectors[10:30] = vectors[10]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex.build(vectors, "flat")
    queries = np.concatenate([vectors[[10, 3]], rng.standard_normal((5, 8)).astype(np.float32)])
    assert index.search(queries, 3) == brute_force(queries, vectors, 3)
    assert index.search(queries, 3)[0] == [10, 11, 12]


def test_the_index_is_built_once_per_corpus_and_reused(tiny, corpus: Dataset, tmp_path: Path):
    """A second run (another seed, fewer questions) loads the stored index: the same recorded build in its cost
    rows, the same file untouched, the same documents retrieved."""
    cache, options = tmp_path / "cache", MethodOptions(k=3, retriever="dense")
    first = get_method("rag", options).prepare(tiny, corpus, seed=0, workdir=tmp_path / "a", cache_dir=cache)
    (stored,) = (cache / "indexes").glob("*.faiss")
    before = stored.stat()
    fewer = dataclasses.replace(corpus, questions=corpus.questions[:10])
    second = get_method("rag", options).prepare(tiny, fewer, seed=1, workdir=tmp_path / "b", cache_dir=cache)
    assert first.info["index"] == "built" and second.info["index"] == "loaded"
    rows = [{c.phase: c for c in p.costs} for p in (first, second)]
    record = json.loads(stored.with_suffix(".json").read_text())
    for row in rows:
        assert row["index"].kind == "one_off" and row["index"].flops == record["build"]["flops"] > 0
        assert row["index"].tokens_processed == record["build"]["tokens"] > 0
        assert row["index"].seconds >= record["build"]["seconds"] > 0
        assert row["index_held"].peak_memory_bytes > record["bytes"] == stored.stat().st_size
        assert row["retrieve"].kind == "per_query" and row["retrieve"].flops > 0 and row["retrieve"].seconds > 0
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert second.contexts == first.contexts[:10]
    assert sorted(p.suffix for p in (cache / "indexes").iterdir()) == [".faiss", ".json", ".lock"]


def test_a_corrupted_or_foreign_index_is_rebuilt_never_loaded(corpus: Dataset, tmp_path: Path):
    docs = [d.text for d in corpus.documents]
    queries = [question_text(q) for q in corpus.questions]
    expected = make_retriever("dense", docs, folder=tmp_path).top_k(queries, 5)
    (stored,) = tmp_path.glob("*.faiss")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a vector's byte: FAISS itself would load it without complaint
    stored.write_bytes(bytes(data))
    again = make_retriever("dense", docs, folder=tmp_path)
    assert again.index_status == f"rebuilt: {stored}: its content does not match its record (corrupted or replaced)"
    assert again.top_k(queries, 5) == expected
    # Another corpus' index and record under this corpus' name.
    other = make_retriever("dense", docs[:20], folder=tmp_path / "other")
    assert other.index_status == "built"
    for suffix in (".faiss", ".json"):
        stored.with_suffix(suffix).write_bytes(next((tmp_path / "other").glob(f"*{suffix}")).read_bytes())
    foreign = make_retriever("dense", docs, folder=tmp_path)
    assert foreign.index_status.startswith("rebuilt: ") and "another corpus" in foreign.index_status
    assert "\n" not in foreign.index_status and foreign.top_k(queries, 5) == expected
    stored.with_suffix(".json").write_text("{not json")
    assert make_retriever("dense", docs, folder=tmp_path).index_status.endswith("its record is missing or not JSON")
    assert make_retriever("dense", docs, folder=tmp_path).index_status == "loaded"


def test_approximate_indexes_report_their_recall(tiny, corpus: Dataset, tmp_path: Path):
    for kind in ("ivf", "hnsw"):
        prepared = get_method("rag", MethodOptions(k=5, retriever="dense", retriever_index=kind)).prepare(
            tiny, corpus, seed=0, workdir=tmp_path)
        assert prepared.info["index"] == "built"
        assert 0.5 <= prepared.info["index_recall_at_k"] <= 1.0
    assert sorted(p.name.split("-")[1] for p in (tmp_path / "indexes").glob("*.faiss")) == ["hnsw", "ivf"]


def unit_vectors(rng: np.random.Generator, n: int, clusters: int) -> np.ndarray:
    """`n` vectors of 32 dims around `clusters` centres (0: no clusters), on the unit sphere."""
    x = rng.standard_normal((n, 32)).astype(np.float32)
    if clusters:
        x += 2 * rng.standard_normal((clusters, 32)).astype(np.float32)[rng.integers(0, clusters, n)]
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_ivf_recall_is_measured_against_exact_search():
    """An IVF index visits 1/16 of its lists: on clustered vectors it finds nearly all of the exact top 10; on
    vectors without clusters it misses some, and the measurement says so."""
    rng = np.random.default_rng(1)
    recalls = {}
    for clusters in (50, 0):
        vectors = unit_vectors(rng, 20_000, clusters)
        queries = vectors[rng.integers(0, 20_000, 200)] + 0.1 * rng.standard_normal((200, 32)).astype(np.float32)
        index = VectorIndex.build(vectors, "ivf")
        assert ivf_lists(20_000) > 100 and not index.exact
        recalls[clusters] = index.recall(queries, 10)
        assert index.search_flops(1) < VectorIndex.build(vectors, "flat").search_flops(1) / 4
    assert recalls[50] >= 0.95 and 0.5 < recalls[0] < 0.95, recalls


def test_index_kind_by_size_and_option():
    assert choose_kind(None, EXACT_UP_TO) == "flat" and choose_kind(None, EXACT_UP_TO + 1) == "ivf"
    assert choose_kind("hnsw", 10) == "hnsw"
    with pytest.raises(AdaptlabError, match="option retriever_index: ivf is an index of the dense retriever"):
        MethodOptions(retriever_index="ivf")
    with pytest.raises(AdaptlabError, match="option retriever_index: Input should be 'flat', 'ivf' or 'hnsw'"):
        MethodOptions(retriever="dense", retriever_index="lsh")
    assert "retriever_index" not in MethodOptions(retriever="dense").model_dump()  # unset: run ids as before
    assert MethodOptions(retriever="dense", retriever_index="flat").model_dump()["retriever_index"] == "flat"
