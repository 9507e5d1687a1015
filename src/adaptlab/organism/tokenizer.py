"""The organism's tokenizer: one token per word of the generators' templates and the nonsense lexicon, one per
punctuation mark, and `¶` for the blank line that separates documents (which a word tokenizer would drop).
Closed vocabulary by design: the organism only ever reads the project's synthetic language."""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from adaptlab.data.lexicon import candidate_words
from adaptlab.organism.worlds import vocabulary_corpus

PARAGRAPH = "¶"


def build_organism_tokenizer(max_length: int = 1024) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Replace(Regex(r"\n\s*\n"), f" {PARAGRAPH} ")
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.Sequence([decoders.Replace(PARAGRAPH, "\n\n"), decoders.WordPiece(cleanup=False)])
    specials = ["<unk>", "<bos>", "<eos>", "<pad>"]
    corpus = [*vocabulary_corpus(), " ".join(candidate_words()), PARAGRAPH]
    trainer = trainers.WordLevelTrainer(vocab_size=100_000, min_frequency=1, special_tokens=specials,
                                        show_progress=False)
    tok.train_from_iterator(corpus, trainer=trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A $B",
                                                       special_tokens=[("<bos>", bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        model_max_length=max_length, clean_up_tokenization_spaces=False,
    )
