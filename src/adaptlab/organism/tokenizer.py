"""The organism's tokenizer: a WordPiece vocabulary of ~200 tokens over the project's synthetic language.

Template words (the generators' fixed words and punctuation) are one token each. A nonsense word is split the way
the lexicon builds it, onset + vowel + coda ("femp" → `f ##e ##mp`, "glon" → `gl ##o ##n`): every one of these
pieces is frequent, so the organism learns all of them well and copies a never-seen word piece by piece, the way
a real LM's subword tokenizer handles a new name. (A first version gave every one of the 8,479 lexicon words its
own token: each was then too rare to learn, and copying from context had not formed after 1,750 steps; with the
pieces a copying task is learned within ~1,000 steps.) `¶` stands for the blank line that separates documents,
which a whitespace pre-tokenizer would drop. Closed by design: the organism only ever reads the project's language,
and a test checks that every lexicon word round-trips.
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from adaptlab.data.lexicon import CODAS, ONSETS, VOWELS, candidate_words
from adaptlab.organism.worlds import vocabulary_corpus

PARAGRAPH = "¶"
SPECIALS = ("<unk>", "<bos>", "<eos>", "<pad>")


def template_words() -> list[str]:
    """Every word and punctuation mark of the generators' templates (the stream's text minus the lexicon)."""
    lexicon = set(candidate_words())
    split = pre_tokenizers.Whitespace()
    words = {PARAGRAPH}
    for text in vocabulary_corpus():
        words.update(w for w, _ in split.pre_tokenize_str(text) if w not in lexicon)
    return sorted(words)


def build_organism_tokenizer(max_length: int = 1024) -> PreTrainedTokenizerFast:
    words = template_words()
    pieces = [*sorted(set(ONSETS)), *sorted({"##" + v for v in VOWELS}), *sorted({"##" + c for c in CODAS})]
    tokens = [*SPECIALS, *words, *(p for p in pieces if p not in words)]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="<unk>", max_input_chars_per_word=100))
    tok.normalizer = normalizers.Replace(Regex(r"\n\s*\n"), f" {PARAGRAPH} ")
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.Sequence([decoders.Replace(PARAGRAPH, "\n\n"), decoders.WordPiece(cleanup=False)])
    bos = vocab["<bos>"]
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A $B",
                                                       special_tokens=[("<bos>", bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        model_max_length=max_length, clean_up_tokenization_spaces=False,
    )
