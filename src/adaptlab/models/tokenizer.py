"""Train a small tokenizer on a fixed corpus with the `tokenizers` library, wrapped as a Hugging Face tokenizer.

Used for the `tiny` test model and for models the project trains itself. Two kinds:

- `bpe`: byte-level BPE (GPT-2 style). Any text encodes (the 256 bytes are in the vocabulary), so datasets with
  unexpected characters never hit an unknown token; frequent words of the corpus become single tokens.
- `word`: one token per word or punctuation run seen in the corpus, `<unk>` for the rest. Handy for a
  "model organism" whose whole language is known in advance (e.g. `e12 is heavier than e40 .`).

Both add `<bos>` in front of a sequence when `add_special_tokens=True` (so a model always has a first token to
condition on, even with an empty context) and know `<eos>`, `<pad>` and `<unk>`. Training is deterministic: the
same corpus and options give the same vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<unk>", "<bos>", "<eos>", "<pad>")


def build_tokenizer(
    corpus: Iterable[str],
    *,
    kind: Literal["bpe", "word"] = "bpe",
    vocab_size: int = 4096,
    min_frequency: int = 1,
    extra_special_tokens: Iterable[str] = (),
    model_max_length: int = 4096,
) -> PreTrainedTokenizerFast:
    """Train a tokenizer on `corpus` (an iterable of texts) and return it as a `PreTrainedTokenizerFast`.

    `vocab_size` caps the vocabulary (BPE merges stop there; a word vocabulary keeps the most frequent words).
    Special tokens get the first ids: `<unk>`=0, `<bos>`=1, `<eos>`=2, `<pad>`=3, then `extra_special_tokens`.
    """
    specials = [*SPECIAL_TOKENS, *extra_special_tokens]
    texts = list(corpus)
    if kind == "bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
    elif kind == "word":
        tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Whitespace()  # words and punctuation runs
        tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
        trainer = trainers.WordLevelTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials, show_progress=False
        )
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r} (bpe, word)")
    tok.train_from_iterator(texts, trainer=trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
