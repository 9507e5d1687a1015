"""`memory`: a small trained key/value prefix per corpus (a "cartridge", Eyuboglu et al. 2025), learned by
context distillation on text about the corpus (self-study). At test the question follows the trained prefix instead
of the corpus.

How it is trained (`train_memory`):

1. **Initialisation**: the model's own cache of the first `positions` tokens of the corpus (Cartridges found
   initialising from real tokens much better than random vectors; so does `init: random` here). Every tensor of
   that cache is a parameter: keys and values of attention layers and, for hybrid models such as LFM2 (the
   organism), the short-convolution states, so the method works on any architecture whose cache transformers
   builds (`DynamicCache(config)`).
2. **Self-study** (`self_study`): the texts come from the corpus and the model only, never from the questions
   (`study`): the corpus' own documents; the model's inferences from one sentence or from the corpus and one
   document again (augmentation's local and global prompts, `adaptlab.training.augment`: restatements and
   reversals); the teacher continuing seed fragments (the first words of each corpus sentence); the teacher
   writing freely after the corpus. Which direction of a fact the texts state is which direction the memory
   learns: continuations of the corpus' sentences teach its facts as told, the model's inferences their reversals.
3. **Distillation**: the student is the model with the trained prefix in place of the corpus. Its loss at every
   position of a self-study text is the cross-entropy against the teacher's (the model with the whole corpus in
   context) top-k next-token probabilities there (the teacher pays for the corpus once: its cache is prefilled
   once and shared by all texts), or with `objective: lm` against the text's own next token. Only the prefix is
   trained; the weights stay frozen and shared with the base model.

Memory held per corpus: the prefix's tensors, against the full context's key/value cache (both in `info`:
`memory_bytes`, `context_cache_bytes`; the cost rows `memory_held` and ICL's `cache_prefill` carry the same bytes).
The per-query cost is the question attending to `positions` cached positions instead of the context's tokens.

A run keeps its trained prefix in its work folder, `RUNDIR/work/<run id>/memory/` (`save_memory`: the float32
tensors as `prefix.safetensors` and `memory.json`, which slot of the cache each one fills); `load_memory` puts it
onto the base model again, which then scores exactly as the run did (`adaptlab export --format memory` ships it).

Update path `retrain`: a new prefix trained the same way on the updated corpus (`update:self_study`,
`update:memory_train`); the weights are never changed, so there is nothing to continue from but the old prefix,
which was initialised from and distilled on the old corpus.
"""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from adaptlab.context import build_context, context_budget, fit_documents
from adaptlab.costs import Dims, attended_pairs, metered
from adaptlab.data.records import Dataset
from adaptlab.errors import AdaptlabError
from adaptlab.methods.base import Method, Prepared
from adaptlab.models.base import GenerationRequest, LanguageModel
from adaptlab.models.prompts import SEPARATOR
from adaptlab.models.transformers_backend import TransformersModel, expand_cache
from adaptlab.options import MemoryConfig, MethodOptions
from adaptlab.store import CostRow
from adaptlab.training.augment import global_requests, local_requests
from adaptlab.training.examples import sentences

# ----------------------------------------------------------------------------- cache tensors


def _state_slots(cache: Any) -> list[tuple[int, str, int | None]]:
    """Every tensor a cache holds: (layer, attribute, state index or None), in a fixed order."""
    slots: list[tuple[int, str, int | None]] = []
    for i, layer in enumerate(cache.layers):
        for attr in ("keys", "values"):
            if isinstance(getattr(layer, attr, None), torch.Tensor) and getattr(layer, attr).numel():
                slots.append((i, attr, None))
        for attr in ("conv_states", "recurrent_states"):
            states = getattr(layer, attr, None)
            if isinstance(states, dict):
                slots += [(i, attr, k) for k, v in sorted(states.items()) if isinstance(v, torch.Tensor)]
    return slots


def _get(cache: Any, slot: tuple[int, str, int | None]) -> torch.Tensor:
    layer, attr, k = slot
    value = getattr(cache.layers[layer], attr)
    return value if k is None else value[k]


class TrainedPrefix(torch.nn.Module):
    """The memory: one parameter per cache tensor, and a way to build a fresh cache from them.

    `layers` (None: all) are the attention layers whose keys and values hold `positions` distinct positions; every
    other attention layer holds one key and one value per head, repeated over the positions — the same attention as
    one position whose score is raised by log(positions), at one position's bytes."""

    def __init__(self, template: Any, positions: int, layers: Sequence[int] | None = None, *,
                 model: str = "this model"):
        super().__init__()
        self.positions = positions
        self.template = template
        self.slots = _state_slots(template)
        attention = sorted({layer for layer, _, k in self.slots if k is None})
        if layers is not None and (unknown := sorted(set(layers) - set(attention))):
            raise AdaptlabError(f"option memory: layers {unknown} are not attention layers of {model} "
                                f"(its attention layers: {attention})")
        self.layers = None if layers is None else sorted(set(layers))
        # the slots held as one position repeated
        self.repeated = [k is None and self.layers is not None and layer not in self.layers
                         for layer, _, k in self.slots]
        # trained in float32 (Adam on bfloat16 values loses small updates), served in the model's dtype
        self.dtypes = [_get(template, s).dtype for s in self.slots]
        self.tensors = torch.nn.ParameterList()
        for slot, repeated in zip(self.slots, self.repeated, strict=True):
            value = _get(template, slot).detach().float()
            self.tensors.append(torch.nn.Parameter((value.mean(-2, keepdim=True) if repeated else value).clone()))

    def nbytes(self) -> int:
        """Bytes held when serving (in the model's dtype)."""
        return sum(p.numel() * d.itemsize for p, d in zip(self.tensors, self.dtypes, strict=True))

    def cache(self, rows: int) -> Any:
        """A new cache object holding the memory for `rows` sequences (gradients flow to the parameters)."""
        out = copy.copy(self.template)
        out.layers = []
        for layer in self.template.layers:
            new = copy.copy(layer)
            for attr, value in vars(layer).items():
                if isinstance(value, dict):
                    setattr(new, attr, dict(value))
            out.layers.append(new)
        for slot, param, dtype, repeated in zip(self.slots, self.tensors, self.dtypes, self.repeated, strict=True):
            layer, attr, k = slot
            shape = (*param.shape[1:-2], self.positions, param.shape[-1]) if repeated else param.shape[1:]
            value = param.to(dtype).expand(rows, *shape)
            if k is None:  # keys/values are concatenated to: an expanded view is enough
                setattr(out.layers[layer], attr, value)
            else:  # convolution/recurrent states are updated in place: each cache needs its own copy
                getattr(out.layers[layer], attr)[k] = value.clone()
        return out


# ----------------------------------------------------------------------------- on disk

MEMORY = "memory"  # the folder in a run's work folder
PREFIX_FILE = "prefix.safetensors"
MEMORY_RECORD = "memory.json"  # written last: its presence means the folder is complete


def save_memory(memory: TrainedPrefix, folder: Path, base: str) -> None:
    """Write the trained prefix into `folder` (replacing it): its float32 tensors, and what they are."""
    from safetensors.torch import save_file

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_file({str(i): p.detach().to("cpu").contiguous() for i, p in enumerate(memory.tensors)},
              str(partial / PREFIX_FILE))
    record = {"positions": memory.positions, "layers": memory.layers, "slots": [list(s) for s in memory.slots],
              "dtypes": [str(d).removeprefix("torch.") for d in memory.dtypes], "base_model": base}
    (partial / MEMORY_RECORD).write_text(json.dumps(record, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def load_memory(folder: Path, model: LanguageModel) -> TransformersModel:
    """`model` with the trained prefix saved in `folder` (by a `memory` run, or `adaptlab export --format memory`)
    before every prompt: it scores and generates as the run's model did. `model` is the run's base model, loaded
    in-process (`adaptlab.models.load_model`); a prefix trained on another architecture is a one-line error."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    backend = in_process(model)
    try:
        record = json.loads((folder / MEMORY_RECORD).read_text())
        tensors = load_file(str(folder / PREFIX_FILE))
        positions = int(record["positions"])
        layers = None if record.get("layers") is None else [int(i) for i in record["layers"]]
        slots = [tuple(s) for s in record["slots"]]
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as e:
        raise AdaptlabError(f"{folder}: not a saved memory ({MEMORY_RECORD} + {PREFIX_FILE}: {e})") from None
    device = next(backend.model.parameters()).device
    with torch.no_grad():
        template = _prefill_cache(backend.model, [backend.pad_id] * positions, device)
        memory = TrainedPrefix(template, positions, layers, model=model.name).to(device)
        shapes = [tuple(t.shape) for t in memory.tensors]
        saved = [tuple(tensors[str(i)].shape) if str(i) in tensors else None for i in range(len(shapes))]
        if memory.slots != slots or saved != shapes or len(tensors) != len(shapes):
            raise AdaptlabError(f"{folder}: this memory was trained on another model's cache "
                                f"({record.get('base_model', 'unknown')}), not {model.name}'s")
        for i, param in enumerate(memory.tensors):
            param.copy_(tensors[str(i)])
    return backend.with_prefix(memory, name=f"{model.name}+memory")


# ----------------------------------------------------------------------------- training


def seed_fragments(texts: list[str], cuts: int) -> list[str]:
    """The first words of every sentence, cut after 1/(cuts+1) .. cuts/(cuts+1) of its words (deduplicated)."""
    seeds = []
    for text in texts:
        for sentence in sentences(text):
            words = sentence.split()
            for c in range(1, cuts + 1):
                n = max(1, round(len(words) * c / (cuts + 1)))
                if n < len(words):
                    seeds.append(" ".join(words[:n]))
    return list(dict.fromkeys(seeds))


def _padded(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask


def _forward_after(model: Any, cache: Any, past: int, seqs: list[list[int]], pad: int) -> torch.Tensor:
    """Log-probabilities at every position of right-padded `seqs` run after a cache of `past` positions."""
    ids, mask = _padded(seqs, pad)
    full_mask = torch.cat([torch.ones((len(seqs), past), dtype=torch.long), mask], dim=1)
    positions = torch.arange(past, past + ids.shape[1])[None].expand(len(seqs), -1)
    device = next(model.parameters()).device
    out = model(input_ids=ids.to(device), attention_mask=full_mask.to(device), position_ids=positions.to(device),
                past_key_values=cache, use_cache=True)
    return torch.log_softmax(out.logits.float(), dim=-1)


def in_process(lm: LanguageModel) -> TransformersModel:
    """`lm` as the in-process transformers backend whose cache a memory is trained in, or a one-line error."""
    if not isinstance(lm, TransformersModel):
        raise AdaptlabError(f"method memory needs a model whose cache it can train (in-process), not {lm.name}")
    return lm


def self_study(
    backend: TransformersModel, corpus: str, config: MemoryConfig, seed: int
) -> tuple[list[list[int]], int, list[CostRow]]:
    """The token ids of the self-study texts (from `config.study`'s sources), the number of seed fragments, and
    what generating them cost. Nothing but the corpus and the model's own text goes in."""
    texts: list[str] = []
    costs = []
    seeds = seed_fragments(corpus.split(SEPARATOR), config.cuts) if "continue" in config.study else []
    prompts = [s for s in seeds for _ in range(config.samples)]
    prompts += [""] * (config.free_samples if "free" in config.study else 0)
    requests = [GenerationRequest(context=corpus, prompt=p, instruction=None) for p in prompts]
    docs = corpus.split(SEPARATOR)
    units = [u for d in docs for u in sentences(d)]
    if "local" in config.study:  # the model's inferences from one sentence (augmentation's local prompt)
        requests += local_requests(backend, units) * config.samples
    if "global" in config.study:  # ... from the corpus and one document again (augmentation's global prompt)
        requests += global_requests(backend, docs, docs) * config.samples
    if requests:
        generated, gen = backend.generate_requests(requests, max_new_tokens=config.max_new_tokens,
                                                   temperature=config.temperature, seed=seed)
        costs.append(CostRow(phase="self_study", kind="one_off", tokens_processed=gen.tokens_prefilled,
                             tokens_reused=gen.tokens_reused, tokens_generated=gen.tokens_generated,
                             flops=gen.flops, seconds=gen.seconds, peak_memory_bytes=gen.peak_memory_bytes))
        # a decoded continuation may not start with the space that separates it from its seed
        texts += [r.prompt + (t if not t or t[0].isspace() or not r.prompt else " " + t)
                  for r, t in zip(requests, generated, strict=True)]
    if "documents" in config.study:
        texts += docs
    text_ids = [backend.encode(t.strip()) for t in dict.fromkeys(texts)]
    return [t for t in text_ids if len(t) >= 2], len(seeds), costs


def memory_positions(backend: TransformersModel, corpus: str, tokens: int, config: MemoryConfig, dims: Dims) -> int:
    """`config.positions`, or with `compression` the most positions whose memory holds at most 1/compression of the
    context's key/value cache (the bytes `info` reports as `context_cache_bytes`); never more than the corpus'
    `tokens`. A `layers` that names no attention layer of the model is a one-line error here, before any work."""
    if config.layers is None and config.compression is None:
        return min(config.positions, tokens)
    device = next(backend.model.parameters()).device
    with torch.no_grad():  # bytes = fixed + per position · positions (convolution states are the fixed part)
        one, two = (TrainedPrefix(_prefill_cache(backend.model, [backend.pad_id] * n, device), n,
                                  config.layers, model=backend.name).nbytes() for n in (1, 2))
    if config.compression is None:
        return min(config.positions, tokens)
    budget = dims.cache_bytes(backend.count_tokens(backend.render_prefix(corpus))) / config.compression
    per, fixed = two - one, 2 * one - two
    fits = int((budget - fixed) // per)
    if fits < 1:
        raise AdaptlabError(f"option memory: compression {config.compression:g} leaves less than one position "
                            f"({budget:.0f} bytes; one position holds {one})")
    return min(fits, tokens)


def train_memory(
    backend: TransformersModel, corpus: str, config: MemoryConfig, seed: int, dims: Dims
) -> tuple[TrainedPrefix, dict[str, Any], list[CostRow]]:
    """Self-study then distillation; returns the memory, a log and the one-off costs (generation, training)."""
    model = backend.model
    device = next(model.parameters()).device
    corpus_ids = backend.encode(corpus)
    positions = memory_positions(backend, corpus, len(corpus_ids), config, dims)
    # 1. self-study: the texts the student learns the teacher's predictions on
    text_ids, seeds, costs = self_study(backend, corpus, config, seed)
    teacher_prefix = backend.encode_prefix(backend.render_prefix(corpus))
    student_prefix = backend.encode_prefix(backend.render_prefix(""))
    flops = 0.0
    training = model.training
    grads = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        with metered() as meter:
            # 2. targets at every position of every text: the teacher's top-k next-token probabilities (distill),
            # or the text's own next token (lm)
            with torch.no_grad():
                targets = (_teacher_targets(backend, corpus, text_ids, config, dims) if config.objective == "distill"
                           else [(torch.tensor(ids[1:])[:, None], torch.ones(len(ids) - 1, 1)) for ids in text_ids])
                if config.objective == "distill":
                    flops += sum(dims.flops(len(t), len(t), attended_pairs(len(teacher_prefix), len(t)))
                                 for t in text_ids)
                init = _prefill_cache(model, corpus_ids[:positions], device)
                flops += dims.flops(len(teacher_prefix) + positions, 0, attended_pairs(0, len(teacher_prefix)))
            # 3. distillation into the prefix
            memory = TrainedPrefix(init, positions, config.layers).to(device)
            if config.init == "random":  # Gaussian values of each tensor's own scale (the ablation)
                draw = torch.Generator().manual_seed(seed)
                for param in memory.tensors:
                    param.data = (torch.randn(param.shape, generator=draw) * param.data.std()).to(param.device)
            longest = max(len(student_prefix) + len(t) for t in text_ids)
            meter.see(dims.param_bytes + dims.training_bytes(sum(p.numel() for p in memory.parameters()),
                                                             config.batch_size, positions + longest))
            optimizer = torch.optim.Adam(memory.parameters(), lr=config.learning_rate)
            order = random.Random(f"memory-{seed}")
            losses: list[tuple[int, float]] = []
            for step in range(config.steps):
                picks = [order.randrange(len(text_ids)) for _ in range(config.batch_size)]
                seqs = [student_prefix + text_ids[i] for i in picks]
                with torch.enable_grad():
                    logp = _forward_after(model, memory.cache(len(seqs)), positions, seqs, backend.pad_id)
                    loss = torch.zeros((), device=device)
                    n = 0
                    for row, i in enumerate(picks):
                        idx, probs = targets[i]
                        own = logp[row, len(student_prefix) : len(student_prefix) + len(idx)]
                        loss = loss - (probs.to(device) * own.gather(1, idx.to(device))).sum()
                        n += len(idx)
                    loss = loss / n
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                tokens = sum(map(len, seqs))
                # forward + backward to the activations (no weight gradients): ~2× the forward, like LoRA
                flops += 2 * dims.flops(tokens, tokens, sum(attended_pairs(positions, len(s)) for s in seqs))
                if step % max(1, config.steps // 20) == 0 or step == config.steps - 1:
                    losses.append((step, float(loss.detach())))
    finally:
        for p, g in zip(model.parameters(), grads, strict=True):
            p.requires_grad_(g)
        model.train(training)
    costs.append(CostRow(phase="memory_train", kind="one_off", tokens_trained=config.steps * config.batch_size,
                         tokens_processed=sum(len(t) for t in text_ids), flops=flops, seconds=meter.seconds,
                         peak_memory_bytes=meter.peak_memory_bytes))
    log = {"self_study_texts": len(text_ids), "seeds": seeds, "losses": losses,
           "final_loss": losses[-1][1] if losses else math.nan}
    return memory, log, costs


def _teacher_targets(
    backend: TransformersModel, corpus: str, text_ids: list[list[int]], config: MemoryConfig, dims: Dims
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The teacher's (corpus in context) top-k next-token ids and probabilities at every position of every text;
    the corpus is prefilled once and its cache shared by all texts."""
    model = backend.model
    prefix = backend.encode_prefix(backend.render_prefix(corpus))
    cache = _prefill_cache(model, prefix, next(model.parameters()).device)
    k = min(config.top_k, dims.vocab or config.top_k)
    targets: list[tuple[torch.Tensor, torch.Tensor]] = []
    for start in range(0, len(text_ids), config.batch_size):
        batch = text_ids[start : start + config.batch_size]
        logp = _forward_after(model, expand_cache(cache, len(batch)), len(prefix), batch, backend.pad_id)
        for row, ids in enumerate(batch):
            top = logp[row, : len(ids)].topk(k, dim=-1)
            targets.append((top.indices.cpu(), top.values.exp().cpu()))
    return targets


def _prefill_cache(model: Any, ids: list[int], device: torch.device) -> Any:
    from transformers.cache_utils import DynamicCache

    cache = DynamicCache(config=model.config)
    model(input_ids=torch.tensor([ids], device=device), position_ids=torch.arange(len(ids), device=device)[None],
          past_key_values=cache, use_cache=True, logits_to_keep=1)
    return cache


class Memory(Method):
    name = "memory"
    update_paths = ("retrain",)

    def __init__(self, options: MethodOptions | None = None):
        super().__init__(options)
        self.config = self.options.memory_config()

    def prepare(
        self, model: LanguageModel, dataset: Dataset, *, seed: int, workdir: Path, cache_dir: Path | None = None
    ) -> Prepared:
        backend = in_process(model)
        budget = context_budget(model, dataset.questions, self.options.max_context_tokens)
        docs = fit_documents(model, dataset.documents, budget, seed, self.options.icl_fraction)
        corpus = build_context(docs)
        dims = model.dims
        torch.manual_seed(seed)
        memory, log, costs = train_memory(backend, corpus, self.config, seed, dims)
        context_tokens = model.count_tokens(model.render_prefix(corpus))
        info = {
            "memory_positions": memory.positions,
            "memory_bytes": memory.nbytes(),
            "context_tokens": context_tokens,
            "context_cache_bytes": dims.cache_bytes(context_tokens),
            "documents_used": len(docs),
            **{k: v for k, v in log.items() if k != "losses"},
            "loss_curve": [[step, loss] for step, loss in log["losses"]],  # (step, training loss)
        }
        held = CostRow(phase="memory_held", kind="held", peak_memory_bytes=memory.nbytes())
        save_memory(memory, workdir / MEMORY, model.name)
        # the model with the trained prefix before every prompt; the weights are shared
        return Prepared(model=backend.with_prefix(memory, name=f"{model.name}+memory"),
                        contexts=[""] * len(dataset.questions), info=info, costs=[*costs, held])

