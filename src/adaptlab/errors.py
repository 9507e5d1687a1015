"""One exception type for every error a user can cause: the CLI prints its message as one line, exit code 2."""


class AdaptlabError(Exception):
    """A user-facing error. The message says what went wrong and where, on one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))
