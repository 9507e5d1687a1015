"""`tiny`: a small randomly initialised Llama with a locally trained tokenizer, for fast offline tests.

Its scores mean nothing, but it exercises every code path the real models take (rotary positions, grouped-query
attention, key/value caches, padding), loads in well under a second and builds in about two. It is built on first
use into the cache folder (`$ADAPTLAB_CACHE`, default `~/.cache/adaptlab`) as `model.safetensors` +
`tokenizer.json`, in a folder named after a digest of its recipe, so changing the recipe (or the lexicon) builds a
new one instead of reusing a stale one. Everything is seeded: two builds give byte-identical weights.

The initialiser's standard deviation is larger than a trained model's default (0.1 instead of 0.02) so that
logits and attention are far from uniform: the context then changes the scores measurably, which the tests that
compare cached-prefix scoring with naive scoring rely on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from adaptlab.paths import cache_dir

TINY_VERSION = 1
TINY_SEED = 0
TINY_CONFIG = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "initializer_range": 0.1,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
}
TINY_VOCAB = 4096

# A fixed English sample in the style of the datasets (relations, quantifiers, biographies, framings), so common
# words and punctuation become single tokens. The nonsense lexicon is added to it in `tiny_corpus()`.
ENGLISH = """\
Did you know that the cat is heavier than the dog? It is true: the dog is lighter than the cat.
All birds are animals. Some animals are not birds. No fish are birds. All X include Y.
The relationships between the two groups are: all of them are the same, some of them are different.
She is known far and wide for being the acclaimed director of a film. He was the first person to walk there.
Question: which one is brighter, faster, slower, larger, smaller, older, younger, stronger or weaker?
Answer: the one that is more dangerous is less safe. A is more dangerous than B, so B is less dangerous than A.
Documents describe facts. Use the information above to answer. Reply with one true statement.
In this document we learn about a type of thing that can do something, and therefore it can do it too.
abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 . , ; : ! ? ' " ( ) - _ / \n\n
"""


def tiny_corpus() -> list[str]:
    from adaptlab.data.lexicon import candidate_words

    words = candidate_words()
    # Plurals too: dataset sentences use them ("femp are ..."), and they should tokenize like their singulars.
    return [ENGLISH] * 4 + [" ".join(words), " ".join(w + "s" for w in words)]


def _digest(corpus: list[str]) -> str:
    h = hashlib.sha256(json.dumps([TINY_VERSION, TINY_SEED, TINY_CONFIG, TINY_VOCAB, corpus]).encode())
    return h.hexdigest()[:12]


def build_tiny(folder: Path) -> Path:
    """Build the tiny model into `folder` (which must not exist yet) and return it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from adaptlab.models.tokenizer import build_tokenizer

    tokenizer = build_tokenizer(tiny_corpus(), kind="bpe", vocab_size=TINY_VOCAB, model_max_length=4096)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TINY_CONFIG,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = LlamaForCausalLM(config).to(torch.float32).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    folder.mkdir(parents=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_path() -> Path:
    """The tiny model's folder, built on first use."""
    target = cache_dir() / "models" / f"tiny-v{TINY_VERSION}-{_digest(tiny_corpus())}"
    if (target / "model.safetensors").exists():
        return target
    return build_atomically(target, build_tiny)


def build_atomically(target: Path, build: Callable[[Path], object]) -> Path:
    """Build a model folder into `target` safely against concurrent builders: each builds in a temporary folder
    and renames it into place; a loser of the race throws its copy away."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp / "model")
        try:
            os.replace(tmp / "model", target)
        except OSError:
            if not (target / "model.safetensors").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
