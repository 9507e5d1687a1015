"""One exception type for every error a user can cause: the CLI prints its message as one line, exit code 2."""


class AdaptlabError(Exception):
    """A user-facing error. The message says what went wrong and where, on one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


def describe_validation_error(err: Exception) -> str:
    """The first problem of a pydantic ValidationError as 'field: message' (one line)."""
    errors = getattr(err, "errors", None)
    if not callable(errors):
        return str(err).splitlines()[0]
    first = errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    kind = first["type"]
    if kind == "missing":
        return f"missing field {loc!r}"
    if kind == "extra_forbidden":
        return f"unknown field {loc!r}"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def one_line(error: BaseException, limit: int = 300) -> str:
    """A failure that happened away from the terminal (a worker process, a Ray task) as one line: an
    AdaptlabError's own message, else the exception's type and its message, cut at `limit` characters."""
    if isinstance(error, AdaptlabError):
        return str(error)
    text = " ".join(str(error).split()) or "no message"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(error).__name__}: {text}"
