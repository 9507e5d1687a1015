"""Turn score requests into token rows: tokenization, de-duplication, grouping by prefix and batching.

Pure Python (no torch), so the rules are easy to read and test on their own.

Tokenization is lm-evaluation-harness's (`TemplateLM._encode_pair`) on the whole text: with `ctx = prefix + prompt`
(`prefix = render_prefix(context)`), the scored tokens are `encode(ctx + " " + choice)`, split after
`len(encode(ctx))` tokens; the score is the sum of log p(choice token | all tokens before it). The prefix gets the
special tokens the model expects (a base model's BOS; a chat template spells its own out).

To share the prefix, its text is cut in two near its end: `shared = encode_prefix(prefix[:cut])` is computed once,
and the tail `prefix[cut:]` is tokenized with each question. The cut is placed before a space and checked against
the whole-text tokenization of the first question; tokenizers merge whitespace and punctuation across a boundary
(`"\n\n" + "The"` is not `"\n\n"` then `"The"` for byte-level BPE), which is why the prefix is not simply
tokenized on its own. Where no checked cut exists, nothing is shared (still exact, only slower). The naive scorer
(`share=False`) always tokenizes the whole text, as lm-eval does.

Rows that are identical (same prefix, question and choice tokens) are scored once and shared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from adaptlab.errors import AdaptlabError
from adaptlab.models.base import ScoreRequest

Encode = Callable[[str], list[int]]


@dataclass(frozen=True)
class Row:
    """One sequence to score: a prefix (by index) then `suffix` = question tokens + choice tokens."""

    prefix: int
    suffix: tuple[int, ...]
    n_target: int  # the last `n_target` tokens of `suffix` are the choice: their log-probabilities are summed


@dataclass
class Plan:
    prefixes: list[tuple[int, ...]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    # index[i][j]: the row that scores choice j of request i (several choices may share a row)
    index: list[list[int]] = field(default_factory=list)

    def rows_by_prefix(self) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for r, row in enumerate(self.rows):
            groups.setdefault(row.prefix, []).append(r)
        return groups


def choice_tokens(encode: Encode, prompt: str, q_ids: Sequence[int], choice: str) -> list[int]:
    """The tokens of `" " + choice` as they follow `prompt`: lm-eval's split of the joint tokenization."""
    whole = encode(prompt + " " + choice)
    return list(whole[len(q_ids) :]) or encode(" " + choice)


def split_prefix(prefix: str, probe: str, encode_prefix: Encode, encode: Encode, tail_chars: int = 1) -> int:
    """A character position near the end of `prefix` where tokenizing the two sides apart gives the same tokens as
    tokenizing `prefix + probe` whole; 0 when none of the candidates checks out (then nothing is shared)."""
    if not prefix:
        return 0
    whole = encode_prefix(prefix + probe)
    tried = 0
    for cut in range(len(prefix) - tail_chars, 0, -1):
        if prefix[cut] != " " or prefix[cut - 1].isspace():
            continue
        if encode_prefix(prefix[:cut]) + encode(prefix[cut:] + probe) == whole:
            return cut
        tried += 1
        if tried == 8:
            break
    return 0


def plan_requests(
    requests: Sequence[ScoreRequest],
    *,
    render_prefix: Callable[[str], str],
    encode_prefix: Encode,
    encode: Encode,
    context_window: int,
    model_name: str,
    dedupe: bool = True,
    share: bool = True,
) -> Plan:
    """Tokenize every (request, choice) into a row; raise AdaptlabError when one does not fit the context window.

    `share=False` keeps every row's whole text together (the naive, lm-eval-identical reference)."""
    plan = Plan()
    prefix_of_context: dict[str, tuple[int, str]] = {}  # context → (prefix index, tail text)
    prefix_index: dict[tuple[int, ...], int] = {}
    row_index: dict[Row, int] = {}
    for i, req in enumerate(requests):
        if not req.prompt.strip():
            raise AdaptlabError(f"score request {i}: the prompt is empty")
        if req.context not in prefix_of_context:
            text = render_prefix(req.context)
            probe = req.prompt + " " + (req.choices[0] if req.choices else "")
            cut = split_prefix(text, probe, encode_prefix, encode) if share else 0
            ids = tuple(encode_prefix(text[:cut]))
            if ids not in prefix_index:  # two contexts may render to the same tokens
                prefix_index[ids] = len(plan.prefixes)
                plan.prefixes.append(ids)
            prefix_of_context[req.context] = (prefix_index[ids], text[cut:])
        p, tail = prefix_of_context[req.context]
        n_prefix = len(plan.prefixes[p])
        question = tail + req.prompt
        q_ids = encode(question)
        rows = []
        for choice in req.choices:
            if not choice.strip():
                raise AdaptlabError(f"score request {i} (prompt {_clip(req.prompt)}): a choice is empty")
            c_ids = choice_tokens(encode, question, q_ids, choice)
            total = n_prefix + len(q_ids) + len(c_ids)
            if total > context_window:
                raise AdaptlabError(
                    f"score request {i} (prompt {_clip(req.prompt)}, choice {_clip(choice)}): prefix {n_prefix} + "
                    f"question {len(q_ids)} + choice {len(c_ids)} = {total} tokens exceeds the context window of "
                    f"{model_name} ({context_window} tokens); shorten or subsample the context"
                )
            row = Row(p, tuple(q_ids) + tuple(c_ids), len(c_ids))
            if not dedupe or row not in row_index:
                row_index[row] = len(plan.rows)
                plan.rows.append(row)
            rows.append(row_index[row])
        plan.index.append(rows)
    return plan


def make_batches(lengths: Sequence[int], prefix_len: int, max_tokens: int, max_rows: int) -> list[list[int]]:
    """Split rows (given their suffix lengths) into padded batches, longest first, so that a batch's padded size
    rows × (prefix_len + longest suffix) stays within `max_tokens` (always at least one row per batch).

    Sorting by length keeps padding small; longest first makes the biggest batch come first, so a memory
    problem shows at once rather than at the end."""
    order = sorted(range(len(lengths)), key=lambda r: -lengths[r])
    batches: list[list[int]] = []
    for r in order:
        if batches:
            batch = batches[-1]
            width = prefix_len + lengths[batch[0]]
            if len(batch) < max_rows and (len(batch) + 1) * width <= max_tokens:
                batch.append(r)
                continue
        batches.append([r])
    return batches


def make_packs(lengths: Sequence[int], max_tokens: int, max_rows: int) -> list[list[int]]:
    """Split rows into packs whose suffixes, laid end to end, total at most `max_tokens` (at least one row each).
    Longest first, so that the short rows fill the last packs."""
    order = sorted(range(len(lengths)), key=lambda r: -lengths[r])
    packs: list[list[int]] = []
    used = 0
    for r in order:
        if packs and len(packs[-1]) < max_rows and used + lengths[r] <= max_tokens:
            packs[-1].append(r)
            used += lengths[r]
        else:
            packs.append([r])
            used = lengths[r]
    return packs


def _clip(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[: n - 1] + "…")


class RequestProgress:
    """Reports finished requests: a request is finished when all its rows are scored."""

    def __init__(self, plan: Plan, callback: Callable[[int], None] | None):
        self.callback = callback
        self.pending = [set(rows) for rows in plan.index]
        self.waiting: dict[int, list[int]] = {}
        for i, rows in enumerate(plan.index):
            for r in set(rows):
                self.waiting.setdefault(r, []).append(i)

    def done(self, rows: Sequence[int]) -> None:
        if self.callback is None:
            return
        finished = 0
        for r in rows:
            for i in self.waiting.pop(r, []):
                self.pending[i].discard(r)
                finished += not self.pending[i]
        if finished:
            self.callback(finished)
