"""Process knowledge: "derivatoids", a derivative-like transform with made-up rules, learned from worked examples.

Lampinen et al. 2025, App. B.5 (not available; notes §4 B.5 and open question 19) report a preliminary study of
procedural knowledge: "a function-to-function transform, similar to taking a derivative but with uncommon rules",
with a compositional split (some combinations of rules are seen in training, others held out). Everything below
is our design.

Grammar (inputs). An expression over the variable x, built from `n_symbols` function symbols named by nonsense
words (e.g. blick, trask), sums and products, with at most `max_calls` symbol applications:
    E ::= g(x) | g(E) | E + E | E * E
A binary operand that is itself binary is always parenthesised, whatever the precedence, so every expression has
exactly one canonical spelling: "(blick(x) + trask(x)) * snarf(x)", "blick(trask(x) * x)" is not in the grammar
(the leaf x only appears as g(x)).

The transform D (its name is a nonsense word too: "the vorp of blick(x) is ..."). Its rules, drawn per seed:
- leaf:    D(x) = x
- symbol:  D(g(u)) = g(u) o_g D(u)                      a chain-like rule; o_g is the symbol's own operator
- sum:     D(a + b) = D(a) o_sum D(b)
- product: D(a * b) = (D(a) * b) o_prod (a * D(b))       product-like, with a twist when o_prod is not "+"
The operators o_g (one per symbol, all different), o_sum and o_prod are drawn from OPS = + - * /. Ordinary
calculus has o_g = "*" (with g' for g), o_sum = "+", o_prod = "+"; here a world's operators are random, so a rule
coincides with ordinary calculus only by chance, and across worlds no operator is favoured (a model pretrained on
many small worlds cannot memorise the rules; it has to learn each world's from its examples). Results are never
simplified, so a result is a fixed function of the input.

Combinations and the split. A "combination" is a parent-child pair of rule applications in an expression tree:
(blick, trask) in blick(trask(x)), (sum, blick) in blick(x) + trask(x), (product, snarf) in ... * snarf(x), and
structural ones such as (blick, sum) in blick(trask(x) + snarf(x)). For every parent rule (each symbol, sum and
product) one child symbol is held out, spread evenly over the symbols: 6 of the 24 symbol-child pairs on the
defaults. Training expressions contain no held-out pair.
- `compositional`: new expressions with exactly one held-out pair (all their other pairs are seen in training),
  taken in turn from each held-out pair so every one is tested (chain pairs have few expressions, so the sum and
  product pairs fill the rest). The model must apply rules it has seen, in a combination it has never seen.
- `seen`: new expressions of `max_calls` calls with no held-out pair, none in training, every pair of them seen in
  training (a learning check: the rules in familiar combinations, on unseen inputs).
Training uses every other expression without a held-out pair (all 1- and 2-call ones, the rest of the 3-call
ones): on the defaults 1012 expressions in all, 466 without a held-out pair, 200 of those kept for `seen`, 266 for
training; each appears about 4.5 times across the documents.

Documents (n_documents, default 400): a short preamble and `examples_per_document` (3) worked examples, each in one
of a few sentence frames ("The vorp of blick(x) + trask(x) is (blick(x) / x) - (trask(x) + x).").

Questions (n_per_split, default 200 per split): prompt "The vorp of <expression> is", 4 choices: the correct result
and the results under three wrong rule books. A wrong rule book replaces *every* rule by another rule of the same
shape: every operator slot is rotated by k = 1, 2, 3 steps along OPS, so the three wrong answers include the
"swapped symbol rule" error (o_g becomes another symbol's operator) and, in one of them, the ordinary sum or
product rule where the world's rule is not ordinary. At every operator slot the four choices show the four
different operators, so no choice is a "centre" that the others vary around. A dropped-factor error is not used:
it would change the words of the answer, and with them its n-gram frequencies.

Why the surface baseline is at chance by construction: the four choices of a question differ only in their
operator characters (+ - * /), never in their words (symbols and x) or their parentheses, which are fixed by the
input's shape. The baseline reads only words and numbers, so every choice gets the same score and it picks by its
coin, for any n-gram order. The choices also have exactly the same length in characters. Answer positions are an
exactly balanced shuffled list.

Oracle (valid inferences from the training documents only; no held-out combination appears in it):
1. Each rule stated in general form, in two phrasings (what a learner could induce from the examples).
2. A step-by-step derivation of every training expression: the D of each of its sub-expressions, innermost first,
   then the result. Sub-expressions of training expressions contain no held-out pair either.

Evaluation note: the paper suggests process knowledge may need a different evaluation (probably generating the
result); `derivatoids.parse` and `derivatoids.derive` check a generated answer exactly.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from adaptlab.data.derivatoids import (
    OPS,
    VAR,
    Expr,
    Rules,
    calls,
    derive,
    enumerate_expressions,
    label,
    pairs,
    render,
    subexpressions,
)
from adaptlab.data.lexicon import Lexicon
from adaptlab.data.records import Document, Generated, Question
from adaptlab.data.registry import identity_track
from adaptlab.errors import AdaptlabError

NAME = "process"
VERSION = "1"
DESCRIPTION = """Derivatoids: a derivative-like transform of small expressions with made-up rules, learned from \
worked examples; 4-way choice between the results of the right and of wrong rules.
Splits: compositional (held-out combinations of rules), seen (new expressions, familiar combinations). Oracle: \
the rules in general form and step-by-step derivations of the training examples."""

N_CHOICES = 4

PREAMBLES = (
    "Worked examples of the {dword}.",
    "Some practice with the {dword}:",
    "Notes from today's lesson on the {dword}.",
    "Here is how the {dword} behaves on a few expressions.",
    "Answers to the homework on the {dword}.",
    "A few more results about the {dword}.",
    "From the exercise sheet on the {dword}:",
    "Practice problems, with solutions, for the {dword}.",
)
EXAMPLE_FRAMES = (
    "The {dword} of {expr} is {result}.",
    "Taking the {dword} of {expr} gives {result}.",
    "If we take the {dword} of {expr}, we get {result}.",
    "The {dword} of {expr} works out to {result}.",
    "So the {dword} of {expr} equals {result}.",
)
QUESTION_PROMPT = "The {dword} of {expr} is"
RULE_STATEMENTS = {
    "leaf": (
        "The {dword} of x is x itself.",
        "Whenever x appears on its own, its {dword} is simply x.",
    ),
    "symbol": (
        "For any expression u, the {dword} of {g}(u) is {g}(u) {op} v, where v is the {dword} of u.",
        "To take the {dword} of {g}(u), write {g}(u), then {op}, then the {dword} of u.",
    ),
    "sum": (
        "For any expressions a and b, the {dword} of a + b is p {op} q, where p and q are the {dword}s of a and b.",
        "The {dword} of a sum joins the {dword}s of its two parts with {op}, in the same order.",
    ),
    "product": (
        "For any expressions a and b, the {dword} of a * b is (p * b) {op} (a * q), where p and q are the "
        "{dword}s of a and b.",
        "To take the {dword} of a product a * b, multiply the {dword} of a by b, multiply a by the {dword} of b, "
        "and join the two with {op}.",
    ),
}
DERIVATION = "Working out the {dword} of {expr} step by step: {steps}."
STEP = "the {dword} of {expr} is {result}"

Track = Callable[[Iterable[Any], str], Iterable[Any]]


# --- the world --------------------------------------------------------------------------------------------------------


def rule_ids(e: Expr) -> list[str]:
    """The generator's fact ids (rules) an input expression depends on."""
    return sorted({"rule-x"} | {f"rule-{label(s)}" for s in subexpressions(e) if s.op != VAR})


@dataclass(frozen=True)
class World:
    dword: str  # the transform's name
    symbols: tuple[str, ...]
    rules: Rules
    held_out: tuple[tuple[str, str], ...]  # (parent rule, child symbol)


def draw_world(seed: int, n_symbols: int = 4) -> World:
    """The symbols, the transform's name, the rule book and the held-out combinations of one seed."""
    if not 2 <= n_symbols <= len(OPS):
        raise AdaptlabError(f"{NAME}: n_symbols must be 2..{len(OPS)} (one operator each), got {n_symbols}")
    rng = random.Random(f"{NAME}-{seed}")
    words = Lexicon(seed).take(n_symbols + 1)
    symbols, dword = tuple(words[:n_symbols]), words[n_symbols]
    rules = Rules(tuple(zip(symbols, rng.sample(OPS, n_symbols), strict=True)), rng.choice(OPS), rng.choice(OPS))
    parents = [*symbols, "sum", "product"]
    children: list[str] = []
    while len(children) < len(parents):  # each symbol held out as evenly often as possible
        batch = list(symbols)
        rng.shuffle(batch)
        children += batch
    return World(dword, symbols, rules, tuple(zip(parents, children, strict=False)))


# --- the dataset --------------------------------------------------------------------------------------------------


@dataclass
class _Split:
    training: list[Expr]
    seen: list[Expr]
    compositional: list[Expr]


def _split(world: World, max_calls: int, n_per_split: int, rng: random.Random) -> _Split:
    held = set(world.held_out)
    everything = enumerate_expressions(world.symbols, max_calls)
    trainable = [e for e in everything if not held & set(pairs(e))]
    coverage = Counter(p for e in trainable for p in set(pairs(e)))

    candidates = [e for e in trainable if calls(e) == max_calls]
    rng.shuffle(candidates)
    seen: list[Expr] = []
    for e in candidates:
        if len(seen) == n_per_split:
            break
        if all(coverage[p] > 1 for p in set(pairs(e))):  # every pair stays in some training expression
            seen.append(e)
            coverage.subtract(set(pairs(e)))
    if len(seen) < n_per_split:
        raise AdaptlabError(
            f"{NAME}: only {len(seen)} expressions available for the seen split, asked for {n_per_split}; "
            "lower n_per_split or raise n_symbols / max_calls"
        )
    kept = set(seen)
    training = [e for e in trainable if e not in kept]

    by_pair: dict[tuple[str, str], list[Expr]] = {p: [] for p in world.held_out}
    for e in everything:
        found = [p for p in pairs(e) if p in held]
        if len(found) == 1 and all(coverage[p] > 0 for p in pairs(e) if p not in held):
            by_pair[found[0]].append(e)
    for group in by_pair.values():
        rng.shuffle(group)
    compositional: list[Expr] = []
    while len(compositional) < n_per_split and any(by_pair.values()):
        for group in by_pair.values():
            if group and len(compositional) < n_per_split:
                compositional.append(group.pop())
    if len(compositional) < n_per_split:
        raise AdaptlabError(
            f"{NAME}: only {len(compositional)} expressions with a held-out combination, asked for {n_per_split}; "
            "lower n_per_split or raise n_symbols / max_calls"
        )
    return _Split(training, seen, compositional)


def _example_stream(rng: random.Random, training: list[Expr], n_documents: int, per_document: int) -> list[list[Expr]]:
    """Documents' examples: fresh shuffles of the training expressions, cycled; no expression twice in a document."""
    if n_documents * per_document < len(training):
        raise AdaptlabError(
            f"{NAME}: {n_documents} documents x {per_document} examples cannot show all {len(training)} training "
            "expressions; raise n_documents or examples_per_document"
        )
    if per_document > len(training):
        raise AdaptlabError(f"{NAME}: examples_per_document exceeds the {len(training)} training expressions")
    stream: list[Expr] = []
    while len(stream) < n_documents * per_document:
        batch = list(training)
        rng.shuffle(batch)
        stream += batch
    docs = []
    for d in range(n_documents):
        chunk: list[Expr] = []
        for i in range(d * per_document, (d + 1) * per_document):
            j = i
            while stream[j] in chunk:  # only at a shuffle boundary: swap a later, different expression in
                j += 1
                if j == len(stream):
                    stream += rng.sample(training, len(training))
            stream[i], stream[j] = stream[j], stream[i]
            chunk.append(stream[i])
        docs.append(chunk)
    return docs


def _documents(world: World, examples: list[list[Expr]], rng: random.Random, track: Track) -> list[Document]:
    documents = []
    for d, chunk in enumerate(track(examples, "documents")):
        sentences = [rng.choice(PREAMBLES).format(dword=world.dword)]
        for e in chunk:
            frame = rng.choice(EXAMPLE_FRAMES)
            sentences.append(frame.format(dword=world.dword, expr=render(e), result=render(derive(e, world.rules))))
        facts = sorted({f for e in chunk for f in rule_ids(e)})
        documents.append(Document(id=f"doc-{d:04d}", text=" ".join(sentences), source_fact_ids=facts))
    return documents


def _questions(world: World, split: str, exprs: list[Expr], rng: random.Random) -> list[Question]:
    positions = [i % N_CHOICES for i in range(len(exprs))]
    rng.shuffle(positions)
    questions = []
    for i, (e, at) in enumerate(zip(exprs, positions, strict=True)):
        wrong = [render(derive(e, world.rules.rotated(k))) for k in range(1, N_CHOICES)]
        rng.shuffle(wrong)
        choices = [*wrong[:at], render(derive(e, world.rules)), *wrong[at:]]
        questions.append(
            Question(
                id=f"{split}-{i:03d}",
                prompt=QUESTION_PROMPT.format(dword=world.dword, expr=render(e)),
                choices=choices,
                answer=at,
                split=split,
                source_fact_ids=rule_ids(e),
            )
        )
    return questions


def _oracle(world: World, training: list[Expr]) -> list[Document]:
    dword, rules = world.dword, world.rules
    statements: list[tuple[str, str]] = [(t.format(dword=dword), "rule-x") for t in RULE_STATEMENTS["leaf"]]
    for g in world.symbols:
        for t in RULE_STATEMENTS["symbol"]:
            statements.append((t.format(dword=dword, g=g, op=rules.op(g)), f"rule-{g}"))
    for rule, op in (("sum", rules.sum_op), ("product", rules.product_op)):
        statements += [(t.format(dword=dword, op=op), f"rule-{rule}") for t in RULE_STATEMENTS[rule]]
    oracle = [
        Document(id=f"oracle-rule-{i:02d}", text=text, source_fact_ids=[fact])
        for i, (text, fact) in enumerate(statements)
    ]
    for i, e in enumerate(training):
        steps = [STEP.format(dword=dword, expr=render(s), result=render(derive(s, rules))) for s in subexpressions(e)]
        text = DERIVATION.format(dword=dword, expr=render(e), steps="; ".join(steps))
        oracle.append(Document(id=f"oracle-derivation-{i:04d}", text=text, source_fact_ids=rule_ids(e)))
    return oracle


def generate(
    seed: int,
    track: Track = identity_track,
    *,
    n_symbols: int = 4,
    max_calls: int = 3,
    n_documents: int = 400,
    examples_per_document: int = 3,
    n_per_split: int = 200,
) -> Generated:
    """A world of `n_symbols` symbols and its derivatoid; see the module docstring for the design."""
    if not 2 <= max_calls <= 3:
        raise AdaptlabError(f"{NAME}: max_calls must be 2 or 3, got {max_calls}")
    for key, value in (
        ("n_documents", n_documents),
        ("examples_per_document", examples_per_document),
        ("n_per_split", n_per_split),
    ):
        if value < 1:
            raise AdaptlabError(f"{NAME}: {key} must be >= 1, got {value}")
    world = draw_world(seed, n_symbols)
    rng = random.Random(f"{NAME}-data-{seed}")
    split = _split(world, max_calls, n_per_split, rng)
    examples = _example_stream(rng, split.training, n_documents, examples_per_document)
    documents = _documents(world, examples, rng, track)
    questions = _questions(world, "compositional", split.compositional, rng)
    questions += _questions(world, "seen", split.seen, rng)
    params: dict[str, int | float | str | bool] = {
        "n_symbols": n_symbols,
        "max_calls": max_calls,
        "n_documents": n_documents,
        "examples_per_document": examples_per_document,
        "n_per_split": n_per_split,
    }
    return Generated(documents=documents, questions=questions, oracle=_oracle(world, split.training), params=params)
