"""`rag`: per question, the top-k training documents by a retriever (BM25 or a dense embedder), then ICL over those.

The query is the question's prompt (choices are never shown). Retrieved documents are placed in retrieval order,
best first. Building the index is the method's one-off cost (`index`: its tokens, seconds, the memory the index
holds, and FLOPs: 0 for BM25, which counts words and runs no neural network; 2·N per token for the dense
embedder); retrieving is a per-query cost (`retrieve`: measured seconds, FLOPs of embedding the query and of
searching the vector index); `index_held` is the memory the index (and the embedder) holds while deployed.

The dense retriever's FAISS index is stored in the runs' shared cache folder (`cache/indexes/` in a run folder;
this run's own folder when there is none), keyed by the documents' texts, the embedder and the index kind: every
run, seed and question limit over the same corpus reuses it, and its `index` row is the cost of the one build, as
recorded then (`info["index"]` says `built`, `loaded`, or `rebuilt` and why). An approximate index
(`retriever_index: ivf|hnsw`, or a corpus above `EXACT_UP_TO` documents) has its recall@k against exact search on
the run's own queries measured into `info["index_recall_at_k"]`.

Update path `reindex`: the index is built again over the updated corpus (`update:index`).
"""

from __future__ import annotations

from pathlib import Path

from adaptlab.context import build_context, context_budget
from adaptlab.costs import metered
from adaptlab.data.records import Dataset
from adaptlab.evaluate import question_text
from adaptlab.methods.base import Method, Prepared
from adaptlab.models.base import LanguageModel
from adaptlab.retrieval import make_retriever
from adaptlab.store import CostRow


class Retrieved(Method):
    name = "rag"
    update_paths = ("reindex",)

    def prepare(
        self, model: LanguageModel, dataset: Dataset, *, seed: int, workdir: Path, cache_dir: Path | None = None
    ) -> Prepared:
        with metered() as meter:
            retriever = make_retriever(self.options.retriever, [d.text for d in dataset.documents],
                                       index_kind=self.options.retriever_index,
                                       folder=(cache_dir or workdir) / "indexes")
            meter.see(retriever.index_peak_bytes)
        queries = [question_text(q) for q in dataset.questions]
        with metered() as search:
            hits = retriever.top_k(queries, self.options.k)
        budget = context_budget(model, dataset.questions, self.options.max_context_tokens)
        contexts = []
        for ranked in hits:
            docs = [dataset.documents[i] for i in ranked]
            while len(docs) > 1 and model.count_tokens(build_context(docs)) > budget:
                docs = docs[:-1]
            contexts.append(build_context(docs))
        info: dict[str, object] = {"retriever": self.options.retriever, "k": self.options.k}
        if self.options.retriever == "dense":
            info["index"] = retriever.index_status
            recall = retriever.recall_at_k(queries, self.options.k)
            if recall is not None:
                info["index_recall_at_k"] = round(recall, 4)
        # How often the retrieved set contains a document stating a fact the question depends on.
        needed = [set(q.source_fact_ids) for q in dataset.questions]
        if any(needed):
            found = sum(
                bool(need & {f for i in ranked for f in dataset.documents[i].source_fact_ids})
                for need, ranked in zip(needed, hits, strict=True)
                if need
            )
            info["recall_any_fact"] = round(found / sum(1 for n in needed if n), 4)
        index = CostRow(phase="index", kind="one_off", tokens_processed=retriever.index_tokens,
                        flops=retriever.index_flops, seconds=retriever.index_seconds,
                        peak_memory_bytes=meter.peak_memory_bytes)
        retrieve = CostRow(phase="retrieve", kind="per_query", flops=retriever.query_flops(queries),
                           seconds=search.seconds, queries=len(queries))
        held = CostRow(phase="index_held", kind="held", peak_memory_bytes=retriever.index_bytes)
        return Prepared(model=model, contexts=contexts, info=info, costs=[index, retrieve, held])

