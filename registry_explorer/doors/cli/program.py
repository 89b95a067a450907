"""The `rx` command group, its global options, and `State`: how a verb's result is printed or returned.

Each command returns the verb's Python object; `State` prints it (the `rx` program) or only hands
it back (the `%rx` magic, which runs these same commands with `emit=False`). The verbs live in
`commands.py` (documents, tags, blobs) and `image_commands.py` (files, export, pull, trace, census).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import click

from ...sources.remote import Client
from .. import operations as verbs
from .output import FORMATS, emit, emit_lines, write_bytes

PIPE_IDIOMS = """\b
Pipe idioms (crane's habits):
  D=$(rx digest REF)                  one bare sha256:... line
  rx manifest REF | sha256sum         the exact stored bytes: the sum is the digest
  rx config REF | jq .config.Env      the config blob as stored
  rx ls REPO | xargs -n1 echo         one bare tag a line (rx catalog HOST | grep team/)
  rx export REF - | tar -tv           the merged filesystem as a tar stream
  rx files REF                        a table with tar -tv modes (drwxr-xr-x)
  rx trace REF --curl | bash          every request of a pull, replayable

\b
Output: bare values and exact bytes by default (tables for files, trace and census); -o json|table|csv
for structured forms. Text output shows control characters as escapes (\\x1b); JSON is exact.
Exit 0 on success, 1 with one `rx: error:` line on stderr (--debug adds the traceback), 2 for bad usage.
"""


@dataclass
class State:
    """Options shared by every command, and whether results are printed (CLI) or returned (magic)."""
    emit: bool = True
    debug: bool = False
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    client: Any = None

    def source(self):
        """The Client every command of this invocation uses (built once from the global options)."""
        if self.client is None:
            self.client = Client(**self.client_kwargs)
        return self.client

    def show(self, value: Any, fmt: str, columns: list[str] | None = None, *, rows: Any = None) -> Any:
        """Print `value` (or `rows`, its JSON-ready form, when given) as `fmt` (CLI); return `value` either way."""
        if self.emit:
            emit(verbs.plain(value) if rows is None else rows, fmt, columns=columns)
        return value

    def lines(self, values: list[Any], value: Any) -> Any:
        """Print bare `values`, one a line (CLI); return `value`."""
        if self.emit:
            emit_lines(values)
        return value

    def raw(self, data: bytes, value: Any) -> Any:
        """Write `data` as it is (CLI); return `value`."""
        if self.emit:
            write_bytes(data)
        return value


output_option = click.option("-o", "--output", "fmt", type=click.Choice(FORMATS), default=None,
                             help="Print a structured form instead of the default (see the command's help).")
platform_option = click.option("--platform", default=None, help="os/arch[/variant] of an index (default linux/amd64).")


def progress_bar(label: str):
    """A progress callback drawing on stderr, only when stderr is a terminal (never in pipes or logs)."""
    if not sys.stderr.isatty():
        return None, None
    bar = click.progressbar(length=1, label=label, file=sys.stderr)
    totals: dict[str, tuple[int, int]] = {}

    def update(desc, done: int, total: int) -> None:
        totals[desc.digest] = (done, max(total, 0))
        bar.length = max(1, sum(t for _, t in totals.values()))
        bar.update(sum(d for d, _ in totals.values()) - bar.pos)

    return update, bar


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=PIPE_IDIOMS)
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.option("--insecure", multiple=True, metavar="HOST", help="Allow plain http (and credentials over it) to HOST.")
@click.option("--ca-bundle", default=None, type=click.Path(exists=True, dir_okay=False), help="CA certificates to trust.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for a registry.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, insecure: tuple[str, ...], ca_bundle: str | None, timeout: float) -> None:
    """rx: look inside OCI and Docker registries, with crane's verbs and crane's output habits.

    Credentials come from ~/.docker/config.json ($DOCKER_CONFIG), as docker and crane use them.
    """
    state = ctx.ensure_object(State)
    state.debug = debug
    state.client_kwargs.update(insecure=insecure, ca_bundle=ca_bundle, timeout=timeout)
