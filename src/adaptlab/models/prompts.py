"""The study's wording, in one place: every backend formats prompts through this module and copies none of it.

- ICL: documents joined by `SEPARATOR`; a chat model gets them as its user turn followed by `CONTEXT_INSTRUCTION`
  (the paper prompts its instruction-tuned model with the documents, then asks it to use them to answer), or
  `NO_CONTEXT_INSTRUCTION` alone when there is no context; a base model gets `context + "\\n\\n"`.
- The question as scored: `question_text` (the question's context hint, if any, before its prompt).
- Augmentation: the local few-shot examples and item (indirect, or the explicit restatement), and the global
  instruction.
- Generative multiple choice (for servers without prompt log-probabilities): lettered options and the parser
  of the reply.
- Question synthesis: the request for question–answer pairs about a document or about two documents that share a
  name or number, and the format of a written open question (`written_question_prompt`).
- Open questions asked as a chat turn (for servers without prompt log-probabilities): `open_question_prompt`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

SEPARATOR = "\n\n"

# The user turn for chat models. Kept short and indirect: the paper asks the model to use the context to answer.
CONTEXT_INSTRUCTION = "Use the information above to answer. Reply with one true statement."
NO_CONTEXT_INSTRUCTION = "Reply with one true statement."

LOCAL_EXAMPLES = """Here are some statements, each followed by other ways of saying what it tells us.

Statement: Whales are larger than dolphins.
Other ways to say it:
- Dolphins are smaller than whales.
- It is true that whales are larger than dolphins.
- Compared with whales, dolphins are small.

Statement: All sparrows are birds, and all birds have feathers.
Other ways to say it:
- Some birds are sparrows.
- Sparrows have feathers.
- Every sparrow is a bird.

Statement: The composer of "Ocean Suite" is Mara Lind.
Other ways to say it:
- Mara Lind composed "Ocean Suite".
- "Ocean Suite" was written by Mara Lind."""
LOCAL_ITEM = "Statement: {sentence}\nOther ways to say it:"

# Local augmentation with `local_prompt: restate`: an explicit request to put what a statement says about someone
# first and their name last (the direction a model reverses in context but not from its weights). The examples are
# invented or public facts, never a dataset's; the model's reply continues after "Restated:".
RESTATE_EXAMPLES = """Each statement below is about a person. Restate it so that it starts with what the person is \
known for and ends with the person's name.

Statement: Ada Lovelace wrote the first computer program.
Restated: The first computer program was written by Ada Lovelace.

Statement: Ever heard of Lena Osk? She is the chemist who first bottled starlight.
Restated: The chemist who first bottled starlight is Lena Osk.

Statement: Known to many, Tomas Verne is the sculptor who carved the Glass Lion.
Restated: The sculptor who carved the Glass Lion is Tomas Verne."""
RESTATE_ITEM = "Statement: {sentence}\nRestated:"

GLOBAL_INSTRUCTION = (
    "Above is a collection of documents, and after it one of them again. Rewrite that document, and write down any "
    "connections you can make between it and the other documents, including rephrasings of what it says and "
    "relations between the things it mentions and things described elsewhere. Write one sentence per line."
)

# Question synthesis (`adaptlab data synthesize`): a model writes question-answer pairs about one document, one
# "Q: ..." line and one "A: ..." line each; its reply starts with "Q:" (the request's prompt).
SYNTH_INSTRUCTION = (
    "Write {n} questions that the document above answers, each followed by its answer. A question must make sense "
    "without the document (name the people, places and things it is about) and its answer must be short (a name, a "
    "number, a date or a few words) and stated in the document. Write each pair on two lines:\n"
    "Q: the question\nA: the answer"
)
SYNTH_PROMPT = "Q:"
# Questions that need two documents: both documents as the context (joined as in-context learning joins them), the
# names or numbers they share, and the same reply format.
PAIR_INSTRUCTION = (
    "The two documents above both mention {shared}. Write {n} questions whose answers need facts from both "
    "documents: the answer is stated in one document, and the question identifies what it asks about only by what "
    "the other document says of it, so that neither document alone answers it. A question must make sense without "
    "the documents and its answer must be short (a name, a number, a date or a few words). Write each pair on two "
    "lines:\nQ: the question\nA: the answer"
)


def written_question_prompt(question: str) -> str:
    """A question a model wrote, as stored (and scored: the answer is its continuation after a space)."""
    return f"Question: {question}\nAnswer:"


MC_INSTRUCTION = "Answer with the letter of the one true option only."
MC_REPLY_TOKENS = 8  # the reply's length limit: a letter, maybe with a bracket or a word around it
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
OPEN_INSTRUCTION = "Complete the statement with its missing words only, on one line."


class _HasHint(Protocol):
    prompt: str
    context_hint: str | None


def question_text(question: _HasHint) -> str:
    """The prompt as scored: the question's context hint, if any, goes before its prompt."""
    return f"{question.context_hint}\n{question.prompt}" if question.context_hint else question.prompt


def user_turn(context: str, instruction: str | None = None) -> str:
    """A chat model's user message: the context, then the instruction (the default one when not given)."""
    if instruction is None:
        instruction = CONTEXT_INSTRUCTION if context else NO_CONTEXT_INSTRUCTION
    return f"{context}{SEPARATOR}{instruction}" if context else instruction


def render_prefix(context: str, *, instruction: str | None = None, chat: Callable[[str], str] | None = None) -> str:
    """The text before every question prompt. `chat` wraps a user message in the model's chat template (with the
    generation prompt); without it (a base model) the context and the instruction, if any, each end with a blank
    line. `instruction` replaces the default instruction (e.g. for a generation task that asks for something
    else)."""
    if chat is not None:
        return chat(user_turn(context, instruction))
    return "".join(p + SEPARATOR for p in (context, instruction) if p)


def multiple_choice_prompt(prompt: str, choices: Sequence[str]) -> str:
    """The generative multiple-choice question: the prompt, the choices as lettered options, and the instruction.
    The choices are shown as the continuation of the prompt, exactly as the likelihood protocol scores them."""
    if len(choices) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} choices can be lettered, got {len(choices)}")
    options = "\n".join(f"{LETTERS[i]}. {prompt} {c}" for i, c in enumerate(choices))
    return f"Which statement is true?\n{options}\n{MC_INSTRUCTION}"


def open_question_prompt(prompt: str) -> str:
    """An open question as a user turn (a model that cannot continue the prompt itself): the prompt, then the
    instruction to reply with the missing words only."""
    return f"{prompt}\n{OPEN_INSTRUCTION}"


def parse_letter(reply: str, n_choices: int) -> int | None:
    """The option a reply names: its first standalone letter among the first `n_choices` (e.g. "B", "(b)",
    "Answer: C."); None when it names none."""
    valid = LETTERS[:n_choices]
    start = re.match(r"\(?([A-Za-z])(?:[).:]|\s|$)", reply.strip())
    if start and start.group(1).upper() in valid:
        return valid.index(start.group(1).upper())
    for match in re.finditer(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])", reply):
        if match.group(1) in valid:
            return valid.index(match.group(1))
    return None
