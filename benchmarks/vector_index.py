"""Dense retrieval's vector index (adaptlab.vector_index, FAISS) at scale, and beside BM25 on a real corpus.

    PYTHONPATH=src nice -n 5 python benchmarks/vector_index.py                   # 1M synthetic + the real corpus
    PYTHONPATH=src nice -n 5 python benchmarks/vector_index.py --synthetic 200000 --people 30   # a quick run

1. Synthetic: `--synthetic` vectors of 384 dims (MiniLM's width) drawn from a Gaussian mixture (`--clusters`
   centres) and normalised to the unit sphere, and `--queries` queries drawn the same way. They are NOT embeddings
   of text: embedding a million chunks with MiniLM on a 2-core CPU takes hours. Each index kind is built over them
   (hnsw over the first `--hnsw-max` only: its graph takes longest to build) and searched for the top 10.
2. Real: the documents of the reversal-curse data (Berglund et al., include_d2p) and of a `celebrities` world of
   `--people` people per group, embedded with all-MiniLM-L6-v2; the queries are their questions. Each index kind,
   and BM25 (bm25s, as rag uses it), retrieves the top 10 per question.

Per row: build seconds (embedding excluded; it is reported once), index bytes (as FAISS writes it; BM25: its score
matrix), the process's RSS after building, recall@10 against exact search (flat, whose own recall is 1 by
definition), queries per second of the search alone, and on the real corpus the share of questions with a
document of their fact in the top 10. One thread (`--threads`). The load average is printed with every table:
the machine may be shared.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from typing import Any

import numpy as np

from adaptlab.vector_index import VectorIndex, faiss_module, ivf_lists, ivf_probes

K = 10


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def recall(found: list[list[int]], exact: list[list[int]]) -> float:
    return sum(len(set(a) & set(b)) for a, b in zip(found, exact, strict=True)) / sum(len(b) for b in exact)


def mixture(rng: np.random.Generator, n: int, centres: np.ndarray, spread: float) -> np.ndarray:
    """`n` unit vectors: a random centre each plus Gaussian noise, normalised (in blocks: memory). No centres:
    isotropic noise, uniform on the sphere (no structure for an index to exploit: the hard case)."""
    out = np.empty((n, centres.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        block = centres[rng.integers(0, len(centres), m)] if len(centres) else np.zeros((m, centres.shape[1]),
                                                                                         dtype=np.float32)
        block += spread * rng.standard_normal(block.shape, dtype=np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def measure(kind: str, vectors: np.ndarray, queries: np.ndarray, exact: list[list[int]] | None,
            ) -> tuple[dict[str, Any], list[list[int]]]:
    gc.collect()
    start = time.perf_counter()
    index = VectorIndex.build(vectors, kind)
    build = time.perf_counter() - start
    rss = rss_mb()
    start = time.perf_counter()
    found = index.search(queries, K)
    seconds = time.perf_counter() - start
    row = {"index": kind, "vectors": index.n, "build_s": build, "index_mb": index.nbytes / 2**20, "rss_mb": rss,
           "recall@10": 1.0 if exact is None else recall(found, exact), "qps": len(queries) / seconds}
    if kind == "ivf":
        nlist = ivf_lists(index.n)
        row["index"] = f"ivf ({nlist} lists, {ivf_probes(nlist)} probed)"
    del index
    gc.collect()
    return row, found


def table(rows: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> None:
    head = ["index", "vectors", "build_s", "index_mb", "rss_mb", "recall@10", "qps", *extra]
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for r in rows:
        cells = []
        for h in head:
            v = r.get(h, "—")
            cells.append(f"{v:,.2f}" if isinstance(v, float) and h != "vectors" else f"{v:,}" if
                         isinstance(v, int) else str(v))
        print("| " + " | ".join(cells) + " |")
    print(f"load average: {load()}\n", flush=True)


def synthetic(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.clusters, 384)).astype(np.float32)
    start = time.perf_counter()
    vectors = mixture(rng, args.synthetic, centres, args.spread)
    queries = mixture(rng, args.queries, centres, args.spread)
    shape = (f"a mixture of {args.clusters} Gaussians (noise {args.spread} per dimension around N(0, 1) centres)"
             if args.clusters else "isotropic Gaussian noise (no clusters)")
    print(f"## Synthetic: {args.synthetic:,} vectors of 384 dims, NOT text embeddings — {shape} normalised to the "
          f"unit sphere; {args.queries} queries drawn alike; drawn in {time.perf_counter() - start:.1f} s "
          f"(load average {load()})\n", flush=True)
    rows = []
    flat, exact = measure("flat", vectors, queries, None)
    rows.append(flat)
    rows.append(measure("ivf", vectors, queries, exact)[0])
    if "hnsw" in args.kinds:
        part = vectors[: args.hnsw_max]
        truth = exact if len(part) == len(vectors) else VectorIndex.build(part, "flat").search(queries, K)
        rows.append(measure("hnsw", part, queries, truth)[0])
    table(rows)


def real(args: argparse.Namespace) -> None:
    from adaptlab.data.registry import generator
    from adaptlab.evaluate import question_text
    from adaptlab.retrieval import BM25Retriever, DenseRetriever

    docs, questions = [], []
    worlds = [("reversal-curse", {"include_d2p": True})]
    if args.people:
        worlds.append(("celebrities", {"n_people": args.people, "include_d2p": True}))
    for name, params in worlds:
        g = generator(name).generate(0, **params)
        docs += g.documents
        questions += g.questions
    texts = [d.text for d in docs]
    queries = [question_text(q) for q in questions]
    dense = DenseRetriever(texts[:1])  # the embedder (an index of one document, unused)
    start = time.perf_counter()
    vectors = dense.embed(texts)
    embed_s = time.perf_counter() - start
    start = time.perf_counter()
    qvec = dense.embed(queries)
    query_embed_s = time.perf_counter() - start
    print(f"## Real: {len(texts):,} documents ({' + '.join(n for n, _ in worlds)}) embedded with all-MiniLM-L6-v2 "
          f"in {embed_s:.1f} s ({len(texts) / embed_s:.0f}/s); {len(queries):,} questions as queries, embedded at "
          f"{len(queries) / query_embed_s:.0f}/s (not in the QPS below) (load average {load()})\n", flush=True)
    facts = [{f for f in d.source_fact_ids} for d in docs]
    needed = [set(q.source_fact_ids) for q in questions]

    def fact_hits(found: list[list[int]]) -> float:
        asked = [(need, ranked) for need, ranked in zip(needed, found, strict=True) if need]
        return sum(bool(need & set().union(*(facts[i] for i in ranked))) for need, ranked in asked) / len(asked)

    rows = []
    exact: list[list[int]] | None = None
    for kind in args.kinds:
        row, found = measure(kind, vectors, qvec, exact)
        exact = found if kind == "flat" else exact
        rows.append({**row, "fact@10": fact_hits(found)})
    gc.collect()
    start = time.perf_counter()
    bm25 = BM25Retriever(texts)
    build = time.perf_counter() - start
    rss = rss_mb()
    start = time.perf_counter()
    found = bm25.top_k(queries, K)
    seconds = time.perf_counter() - start
    rows.append({"index": "bm25 (bm25s)", "vectors": len(texts), "build_s": build, "index_mb": bm25.index_bytes / 2**20,
                 "rss_mb": rss, "recall@10": "— (own scores)", "qps": len(queries) / seconds,
                 "fact@10": fact_hits(found)})
    table(rows, ("fact@10",))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=1_000_000, help="synthetic vectors (0: none)")
    parser.add_argument("--clusters", type=int, default=1000, help="mixture components (0: none)")
    parser.add_argument("--spread", type=float, default=0.35, help="noise around a centre, per dimension")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--hnsw-max", type=int, default=100_000, help="hnsw over the first this many vectors")
    parser.add_argument("--people", type=int, default=0,
                        help="add a celebrities world of this many people per group (0: the reversal-curse data only)")
    parser.add_argument("--kinds", default="flat,ivf,hnsw")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    args.kinds = ["flat", *(k for k in args.kinds.split(",") if k and k != "flat")]  # flat first: the exact
    import torch

    torch.set_num_threads(args.threads)
    faiss = faiss_module()
    faiss.omp_set_num_threads(args.threads)
    print(f"faiss {faiss.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, load average {load()}\n")
    if args.synthetic:
        synthetic(args)
    if not args.skip_real:
        real(args)


if __name__ == "__main__":
    main()
