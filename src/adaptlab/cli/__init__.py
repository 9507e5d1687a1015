"""The `adaptlab` command line. Every user error prints one line and exits with code 2.

`common` holds the apps and consoles; `data` and `imports` the dataset commands; `study` the commands that run,
report and decide. Importing them registers their commands.
"""

from __future__ import annotations

import os
import sys
import warnings

import typer

from adaptlab.cli import data, imports, study
from adaptlab.cli.common import app, err_console
from adaptlab.errors import AdaptlabError

__all__ = ["app", "data", "imports", "main", "study"]


def main() -> None:
    # Library deprecation notices and loading bars are for library developers, not for someone running a study.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft|accelerate)(\.|$)")
    try:
        code = app(standalone_mode=False)
    except AdaptlabError as e:
        _fail(str(e))
    except typer.TyperException as e:  # a bad option value, a missing argument, an unknown command
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError":  # `adaptlab` or `adaptlab data` alone: the help
            e.show()  # type: ignore[attr-defined]
            sys.exit(2)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        _fail(f"{where}{e.format_message()} (see --help)")
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted", highlight=False)
        sys.exit(130)
    if code == 130:  # typer turns Ctrl-C into exit code 130
        err_console.print("interrupted", highlight=False)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str) -> None:
    err_console.print(f"error: {' '.join(message.split())}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(2)
