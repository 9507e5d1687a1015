"""What every command shares: the typer apps, the consoles, progress bars, and turning a bad option value into
one line."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adaptlab.errors import AdaptlabError
from adaptlab.models.aliases import ALIASES

T = TypeVar("T")

app = typer.Typer(
    help="adaptlab: in-context learning vs fine-tuning vs both — accuracy and cost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Make, inspect and validate datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# Piped or redirected output is for files and other programs: tables keep their full width there (rich would cut
# them at 80 columns) unless COLUMNS says otherwise.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 1000)
err_console = Console(stderr=True)
MIN_WIDTH = 60  # below this a table cuts its numbers away: it wraps past the terminal's edge instead
for _console in (console, err_console):
    if _console.width < MIN_WIDTH:
        _console.width = MIN_WIDTH

MODEL_HELP = (f"an alias ({', '.join(ALIASES)}), a local model folder (config.json + safetensors), a .gguf file, "
              "or a Hugging Face hub id (from the local cache when offline)")


def check(value: T, ok: bool, condition: str) -> T:
    """An option's value, or a usage error (one line) when it is outside `condition`."""
    if not ok:
        raise typer.BadParameter(f"{value} is not {condition}")
    return value


def valid(make: Callable[[], T]) -> T:
    """A config built from command-line options; a bad value is one line that names the flag (`--icl-fraction`)."""
    from pydantic import ValidationError

    from adaptlab.errors import describe_validation_error

    try:
        return make()
    except ValidationError as e:
        message = describe_validation_error(e)
    except AdaptlabError as e:
        message = str(e)
    raise AdaptlabError(re.sub(r"^(?:option )?(\w+):", lambda m: f"--{m.group(1).replace('_', '-')}:", message))


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
