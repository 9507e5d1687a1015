"""`icl`: all training documents in context, then the question (as the paper does).

Documents are joined with a blank line between them, in dataset order. When they do not fit the model's context
window (after room for the chat template, the longest question and its longest choice), a random subset that fits
is used — drawn deterministically from the seed, kept in dataset order — and the fraction used is recorded.
`icl_fraction` forces a smaller subset (the paper subsamples its largest datasets 8×: `icl_fraction=0.125`).

Update path `swap`: the updated corpus goes in context in place of the old one. Nothing is trained; the phase
`update:swap` records the new context's tokens (no FLOPs). With prompt caching the cache is rebuilt: the report and
`recommend` add the cache's prefill to the `+cache` option's update cost.
"""

from __future__ import annotations

from pathlib import Path

from adaptlab.context import build_context, context_budget, fit_documents
from adaptlab.data.records import Dataset
from adaptlab.errors import AdaptlabError
from adaptlab.methods.base import Method, Prepared, as_update
from adaptlab.models.base import LanguageModel
from adaptlab.store import CostRow


class InContext(Method):
    name = "icl"
    update_paths = ("swap",)

    def prepare(
        self, model: LanguageModel, dataset: Dataset, *, seed: int, workdir: Path, cache_dir: Path | None = None
    ) -> Prepared:
        budget = context_budget(model, dataset.questions, self.options.max_context_tokens)
        docs = fit_documents(model, dataset.documents, budget, seed, self.options.icl_fraction)
        if not docs:
            shortest = min(model.count_tokens(d.text) for d in dataset.documents)
            raise AdaptlabError(
                f"icl: no document fits the context budget of {budget} tokens (the shortest has {shortest}); "
                "raise --max-context-tokens or use a model with a longer context"
            )
        context = build_context(docs)
        # Tokenization across separators can differ slightly from the per-document count: trim until it fits.
        limit = budget + model.count_tokens(model.render_prefix(""))
        while len(docs) > 1 and model.count_tokens(model.render_prefix(context)) > limit:
            docs = docs[:-1]
            context = build_context(docs)
        info = {
            "documents_used": len(docs),
            "documents_total": len(dataset.documents),
            "fraction_used": round(len(docs) / len(dataset.documents), 4),
            "context_tokens": model.count_tokens(model.render_prefix(context)),
        }
        return Prepared(model=model, contexts=[context] * len(dataset.questions), info=info)

    def update(
        self, prepared: Prepared, model: LanguageModel, before: Dataset, after: Dataset, *, path: str, seed: int,
        workdir: Path, cache_dir: Path | None = None,
    ) -> Prepared:
        self.check_path(path)
        swapped = self.prepare_again(model, after, seed=seed, workdir=workdir, cache_dir=cache_dir)
        swap = CostRow(phase="swap", kind="one_off", tokens_processed=swapped.info["context_tokens"])
        swapped.costs[:0] = as_update([swap])
        return swapped
