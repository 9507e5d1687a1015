"""Nonsense words: pronounceable 4-5 letter pseudowords that are not English words.

Words are built from English spelling patterns (onset + vowel + coda, e.g. "femp", "glon", "troff"), so they
tokenize like ordinary words. Every candidate that is a real English word — or whose plural or "-ed"/"-er" form
is — is removed using the `english-words` package (the web2 and GCIDE word lists, ~264k words). The candidate
list is fixed; a seed only shuffles it, so the same seed always gives the same words in the same order.
"""

from __future__ import annotations

import random
from functools import cache

ONSETS = ("b d f g h j k l m n p r s t v w y z bl br cl cr dr fl fr gl gr pl pr sc sk sl sm sn sp st sw tr tw").split()
VOWELS = "a e i o u ee oo ai oa".split()
CODAS = (
    "b d f g k l m n p s t x z ck ff ft ld lf lk lm lp lt mp nd nk nt pt sk sp st rb rd rf rg rk rm rn rp rt sh th"
).split()


@cache
def _english_words() -> frozenset[str]:
    from english_words import get_english_words_set

    return frozenset(get_english_words_set(["web2", "gcide"], lower=True, alpha=True))


def _is_english(word: str, english: frozenset[str]) -> bool:
    forms = (word, word + "s", word + "es", word + "ed", word + "er", word.rstrip("s"))
    return any(f in english for f in forms)


@cache
def candidate_words() -> tuple[str, ...]:
    """All pseudowords of 4-5 letters, sorted, English words removed."""
    english = _english_words()
    out = set()
    for onset in ONSETS:
        for vowel in VOWELS:
            for coda in CODAS:
                word = onset + vowel + coda
                if 4 <= len(word) <= 5 and not _is_english(word, english):
                    out.add(word)
    # Drop words that differ from another only by a trailing "s": plurals must stay unambiguous.
    return tuple(sorted(w for w in out if not (w.endswith("s") and w[:-1] in out)))


class Lexicon:
    """Draws unique nonsense words in a seed-determined order: `take(n)` never repeats a word."""

    def __init__(self, seed: int):
        words = list(candidate_words())
        random.Random(f"lexicon-{seed}").shuffle(words)
        self._words = words
        self._next = 0

    def take(self, n: int) -> list[str]:
        if self._next + n > len(self._words):
            raise ValueError(f"lexicon exhausted: asked for {n}, {len(self._words) - self._next} left")
        out = self._words[self._next : self._next + n]
        self._next += n
        return out

    def one(self) -> str:
        return self.take(1)[0]

    def __len__(self) -> int:
        return len(self._words) - self._next
