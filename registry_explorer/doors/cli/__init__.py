"""`rx`, the command line: crane's verbs over registry_explorer (console script and `python -m registry_explorer`).

Exit codes: 0 success; 1 an error, shown as one line on stderr (`--debug` adds the traceback);
2 bad usage (click's). A closed pipe (`rx files REF | head -1`) ends quietly. The error line, like
every text `rx` prints, is redacted and has its control characters made visible (`output.error_line`).
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from ...core.errors import RegistryExplorerError
from ...core.terminal import shown_line
from . import commands, image_commands  # noqa: F401  (importing them registers their verbs on `cli`)
from .output import error_line
from .program import State, cli

__all__ = ["State", "cli", "console", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run `rx` with `argv` (default sys.argv[1:]); returns the exit code (the console script exits with it)."""
    state = State()
    try:
        cli.main(args=argv, prog_name="rx", standalone_mode=False, obj=state)
        sys.stdout.flush()
        return 0
    except click.UsageError as exc:  # also BadParameter: bad usage is 2, as click's own exit
        exc.message = shown_line(exc.message)  # it may echo what was typed, or a server's name
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("rx: aborted", err=True)
        return 1
    except BrokenPipeError:
        return _pipe_closed()
    except SystemExit:
        # click catches EPIPE itself when it surfaces inside a command: it wraps stdout in its
        # PacifyFlushWrapper and exits 1. A closed pipe is not an error of ours: exit 0 quietly.
        if type(sys.stdout).__name__.lstrip("_") == "PacifyFlushWrapper":  # by name: the class is private
            return _pipe_closed()
        raise
    except (RegistryExplorerError, ValueError, OSError, click.ClickException) as exc:
        if state.debug:
            traceback.print_exc()
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(error_line(message), err=True)
        return 1


def _pipe_closed() -> int:
    """The reader went away (| head): stop quietly. Python would print an error at exit while
    flushing stdout, so point stdout at /dev/null first (the recipe in Python's signal docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


def console() -> None:
    """The `rx` console script: `main()` with its exit code."""
    sys.exit(main())
