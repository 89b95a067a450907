"""`%rx`, the IPython magic: `%load_ext registry_explorer`, then `%rx alpine:3.20` or `%rx files alpine:3.20`.

`%rx REF` shows the Explorer on REF; `%rx VERB ARGS` runs the same click command as `rx VERB ARGS`
(registry_explorer/doors/cli/) but returns its Python object instead of printing it: a Descriptor
for `digest`, a Manifest (its `.raw` the stored bytes) for `manifest`, a DataFrame for `files`,
bytes for `cat` and `blob`, the tar stream as bytes for `export REF` (a path for `export REF FILE`),
the layout reference for `pull`, one row per verified object for `validate`, Exchanges for `trace`.
Errors print the same one line as `rx` (redacted, control characters visible) and return None.
One Client per shell, so `%rx` calls share its trace and its manifest cache.
"""

from __future__ import annotations

import shlex
from typing import Any

import click

from ..core.errors import RegistryExplorerError
from ..core.terminal import shown_line
from ..sources.remote import Client
from .cli import State, cli
from .cli.output import error_line


class RxMagic:
    """The state behind `%rx`: the shell's Client (built on first use, replaceable: `%rx` uses `.client`)."""
    def __init__(self, client: Any = None):
        self.client = client

    def __call__(self, line: str) -> Any:
        """Run one `%rx` line and return its object (errors print one line and return None)."""
        try:
            args = shlex.split(line)
        except ValueError as exc:  # an unbalanced quote: the user's typo, said in one line as `rx` would
            print(error_line(f"cannot read the line: {exc}"))
            return None
        if not args or args[0] in ("-h", "--help"):
            return self._run(["--help"])
        if args[0] not in cli.commands and not args[0].startswith("-"):
            return self.explore(args[0])
        return self._run(args)

    def explore(self, ref: str) -> Any:
        """The Explorer widget on `ref` (the last expression of a cell displays it)."""
        import registry_explorer  # rx.Explorer: the package's one lazy hook for the widget

        return registry_explorer.Explorer(self._client(), reference=ref)

    def _client(self):
        if self.client is None:
            self.client = Client()
        return self.client

    def _run(self, args: list[str]) -> Any:
        state = State(emit=False, client=self._client())
        try:
            return cli.main(args=args, prog_name="%rx", standalone_mode=False, obj=state)
        except click.UsageError as exc:
            exc.message = shown_line(exc.message)
            exc.show()
        except click.exceptions.Exit:
            pass
        except (RegistryExplorerError, ValueError, OSError) as exc:
            print(error_line(exc))  # the same line as `rx`: redacted, control characters visible
        return None


def load_ipython_extension(ipython) -> None:
    """Register `%rx` (called by `%load_ext registry_explorer`)."""
    magic = RxMagic()
    ipython.register_magic_function(lambda line: magic(line), magic_kind="line", magic_name="rx")
    ipython.push({"_rx_magic": magic}, interactive=False)
