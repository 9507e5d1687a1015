"""Derivatoids: the expression algebra of the `process` dataset (see process.py for the dataset's design).

Expressions over the variable x, built from function symbols (nonsense words), sums and products:
    E ::= g(x) | g(E) | E + E | E * E
A binary operand that is itself binary is always parenthesised, so every expression has exactly one canonical
spelling (`render`); `parse` reads it back. The transform D under a rule book (`Rules`, one operator per symbol,
one for sums and one for products, each from OPS = + - * /):
- leaf:    D(x) = x
- symbol:  D(g(u)) = g(u) o_g D(u)
- sum:     D(a + b) = D(a) o_sum D(b)
- product: D(a * b) = (D(a) * b) o_prod (a * D(b))
`derive` applies it without simplifying, so a result is a fixed function of the input; `parse` and `derive`
together check a generated answer exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adaptlab.errors import AdaptlabError

OPS = ("+", "-", "*", "/")
SUM, PRODUCT, CALL, VAR = "+", "*", "call", "x"


@dataclass(frozen=True)
class Expr:
    op: str  # VAR, CALL, or a binary operator
    args: tuple[Expr, ...] = ()
    name: str = ""  # the function symbol of a CALL

    @property
    def is_binary(self) -> bool:
        return self.op not in (VAR, CALL)


X = Expr(VAR)


def call(name: str, arg: Expr) -> Expr:
    return Expr(CALL, (arg,), name)


def binary(op: str, left: Expr, right: Expr) -> Expr:
    return Expr(op, (left, right))


def render(e: Expr) -> str:
    """The canonical spelling: binary operands that are binary are parenthesised, spaces around operators."""
    if e.op == VAR:
        return "x"
    if e.op == CALL:
        return f"{e.name}({render(e.args[0])})"
    return " ".join((_operand(e.args[0]), e.op, _operand(e.args[1])))


def _operand(e: Expr) -> str:
    return f"({render(e)})" if e.is_binary else render(e)


TOKEN = re.compile(r"\s*([a-z]+|[()]|[-+*/])")


def parse(text: str) -> Expr:
    """Parse a canonical (or any fully parenthesised) expression; raises AdaptlabError on anything else."""
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        m = TOKEN.match(text, pos)
        if not m:
            raise AdaptlabError(f"cannot parse {text!r} at column {pos + 1}")
        tokens.append(m.group(1))
        pos = m.end()
    expr, i = _parse_expr(tokens, 0, text)
    if i != len(tokens):
        raise AdaptlabError(f"cannot parse {text!r}: unexpected {tokens[i]!r}")
    return expr


def _expect(tokens: list[str], i: int, want: str, text: str) -> int:
    if i >= len(tokens) or tokens[i] != want:
        raise AdaptlabError(f"cannot parse {text!r}: expected {want!r}")
    return i + 1


def _parse_expr(tokens: list[str], i: int, text: str) -> tuple[Expr, int]:
    left, i = _parse_operand(tokens, i, text)
    if i < len(tokens) and tokens[i] in OPS:
        right, j = _parse_operand(tokens, i + 1, text)
        return binary(tokens[i], left, right), j
    return left, i


def _parse_operand(tokens: list[str], i: int, text: str) -> tuple[Expr, int]:
    if i >= len(tokens):
        raise AdaptlabError(f"cannot parse {text!r}: ends too early")
    token = tokens[i]
    if token == "(":
        inner, i = _parse_expr(tokens, i + 1, text)
        return inner, _expect(tokens, i, ")", text)
    if token == "x":
        return X, i + 1
    if token.isalpha():
        arg, j = _parse_expr(tokens, _expect(tokens, i + 1, "(", text), text)
        return call(token, arg), _expect(tokens, j, ")", text)
    raise AdaptlabError(f"cannot parse {text!r}: unexpected {token!r}")


def label(e: Expr) -> str:
    """The rule that applies at a node: its symbol, "sum" or "product" (inputs only)."""
    return e.name if e.op == CALL else {SUM: "sum", PRODUCT: "product"}.get(e.op, e.op)


def pairs(e: Expr) -> list[tuple[str, str]]:
    """The parent-child rule combinations of an input expression (children other than the leaf x)."""
    out = []
    for child in e.args:
        if child.op != VAR:
            out.append((label(e), label(child)))
        out += pairs(child)
    return out


def calls(e: Expr) -> int:
    return (e.op == CALL) + sum(calls(a) for a in e.args)


def subexpressions(e: Expr) -> list[Expr]:
    """Every sub-expression, innermost first, each once (the leaf x included)."""
    out: list[Expr] = []
    for child in e.args:
        out += [s for s in subexpressions(child) if s not in out]
    return [*out, e]  # e is larger than any of its sub-expressions, so it is not in `out` yet


def enumerate_expressions(symbols: tuple[str, ...], max_calls: int) -> list[Expr]:
    """All input expressions with 1..max_calls symbol applications, in a fixed order."""
    by_calls: dict[int, list[Expr]] = {1: [call(g, X) for g in symbols]}
    for n in range(2, max_calls + 1):
        level = [call(g, e) for g in symbols for e in by_calls[n - 1]]
        for k in range(1, n):
            for op in (SUM, PRODUCT):
                level += [binary(op, a, b) for a in by_calls[k] for b in by_calls[n - k]]
        by_calls[n] = level
    return [e for n in range(1, max_calls + 1) for e in by_calls[n]]


# --- rules --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    symbol_ops: tuple[tuple[str, str], ...]  # (symbol, operator)
    sum_op: str
    product_op: str

    def op(self, symbol: str) -> str:
        return dict(self.symbol_ops)[symbol]

    def rotated(self, k: int) -> Rules:
        """Every operator moved k steps along OPS: a wrong rule book of the same shape (k = 0: the same one)."""

        def turn(op: str) -> str:
            return OPS[(OPS.index(op) + k) % len(OPS)]

        return Rules(tuple((g, turn(o)) for g, o in self.symbol_ops), turn(self.sum_op), turn(self.product_op))


def derive(e: Expr, rules: Rules) -> Expr:
    """D(e) under `rules` (see the module docstring)."""
    if e.op == VAR:
        return X
    if e.op == CALL:
        return binary(rules.op(e.name), e, derive(e.args[0], rules))
    a, b = e.args
    if e.op == SUM:
        return binary(rules.sum_op, derive(a, rules), derive(b, rules))
    if e.op == PRODUCT:
        return binary(rules.product_op, binary("*", derive(a, rules), b), binary("*", a, derive(b, rules)))
    raise AdaptlabError(f"the transform is not defined for {render(e)!r} (inputs use only + and *)")
