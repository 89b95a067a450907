"""The `rx` verbs as click commands: parse arguments, call `registry_explorer.doors.operations`, show the result.

Each command returns the verb's Python object; `State.show` prints it (the `rx` program) or only
hands it back (the `%rx` magic, which runs these same commands with `emit=False`).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

import click

from ...sources.remote import Client
from .. import operations as verbs
from .output import FORMATS, emit, write_bytes


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

    def show(self, value: Any, fmt: str, columns: list[str] | None = None) -> Any:
        """Print `value` as `fmt` (CLI); return it either way."""
        if self.emit:
            emit(verbs.plain(value), fmt, columns=columns)
        return value


output_option = click.option("-o", "--output", "fmt", type=click.Choice(FORMATS), default="table",
                             show_default=True, help="How to print the result.")
platform_option = click.option("--platform", default=None, help="os/arch[/variant] of an index (default linux/amd64).")


def _progress(label: str):
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.option("--insecure", multiple=True, metavar="HOST", help="Allow plain http (and credentials over it) to HOST.")
@click.option("--ca-bundle", default=None, type=click.Path(exists=True, dir_okay=False), help="CA certificates to trust.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for a registry.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, insecure: tuple[str, ...], ca_bundle: str | None, timeout: float) -> None:
    """rx: look inside OCI and Docker registries (crane's verbs; JSON, table or CSV output).

    Credentials come from ~/.docker/config.json, as docker and crane use them.
    """
    state = ctx.ensure_object(State)
    state.debug = debug
    state.client_kwargs.update(insecure=insecure, ca_bundle=ca_bundle, timeout=timeout)


@cli.command()
@click.argument("ref")
@output_option
@click.pass_obj
def digest(state: State, ref: str, fmt: str):
    """The digest REF resolves to."""
    return state.show(verbs.digest(state.source(), ref), fmt)


@cli.command()
@click.argument("ref")
@platform_option
@output_option
@click.pass_obj
def manifest(state: State, ref: str, platform: str | None, fmt: str):
    """The manifest (or index) of REF, as stored."""
    return state.show(verbs.manifest(state.source(), ref, platform), "json" if fmt == "table" else fmt)


@cli.command()
@click.argument("ref")
@platform_option
@output_option
@click.pass_obj
def config(state: State, ref: str, platform: str | None, fmt: str):
    """The image config of REF."""
    return state.show(verbs.config(state.source(), ref, platform), "json" if fmt == "table" else fmt)


@cli.command("ls")
@click.argument("repo")
@output_option
@click.pass_obj
def ls_(state: State, repo: str, fmt: str):
    """The tags of REPO."""
    return state.show(verbs.ls(state.source(), repo), fmt)


@cli.command()
@click.argument("registry")
@output_option
@click.pass_obj
def catalog(state: State, registry: str, fmt: str):
    """The repositories REGISTRY lists."""
    return state.show(verbs.catalog(state.source(), registry), fmt)


@cli.command()
@click.argument("ref")
@click.pass_obj
def blob(state: State, ref: str):
    """The blob REPO@DIGEST names, verified, to stdout."""
    progress, bar = _progress("blob")
    with tempfile.TemporaryDirectory(prefix="rx-blob-") as tmp:
        path = verbs.blob(state.source(), ref, tmp, progress=progress)
        if bar is not None:
            bar.render_finish()
        if not state.emit:
            return path.read_bytes()
        sys.stdout.flush()
        with open(path, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()
    return None


@cli.command()
@click.argument("ref")
@click.argument("dest", type=click.Path(file_okay=False))
@platform_option
@output_option
@click.pass_obj
def export(state: State, ref: str, dest: str, platform: str | None, fmt: str):
    """Copy REF into an OCI image layout at DEST (the whole index unless --platform)."""
    progress, bar = _progress("export")
    result = verbs.export(state.source(), ref, dest, platform, progress=progress)
    if bar is not None:
        bar.render_finish()
    return state.show(str(result), fmt)


@cli.command()
@click.argument("ref")
@click.argument("path")
@platform_option
@click.pass_obj
def cat(state: State, ref: str, path: str, platform: str | None):
    """One file of REF's merged filesystem, to stdout (verified; ranged where possible)."""
    data = verbs.cat(state.source(), ref, path, platform)
    if state.emit:
        write_bytes(data)
    return data


@cli.command()
@click.argument("ref")
@click.option("--layer", type=int, default=None, help="List only layer N (0 = base) instead of the merged tree.")
@platform_option
@output_option
@click.pass_obj
def files(state: State, ref: str, layer: int | None, platform: str | None, fmt: str):
    """The files of REF: the merged filesystem, or one layer's entries."""
    frame = verbs.files(state.source(), ref, layer, platform)
    return state.show(frame, fmt, columns=None if fmt == "json" else ["path", "type", "size", "mode", "linkname"])


@cli.command()
@click.argument("ref")
@platform_option
@click.option("--curl", "curl_only", is_flag=True, help="Print only the curl lines (a script that replays the pull).")
@output_option
@click.pass_obj
def trace(state: State, ref: str, platform: str | None, curl_only: bool, fmt: str):
    """Every request of a pull of REF, redacted, with a curl line that replays it ($TOKEN for the token)."""
    progress, bar = _progress("pull")
    # Every request of a pull: nothing may be answered from the disk cache instead.
    state.client_kwargs.setdefault("cache", False)
    exchanges = verbs.trace(state.source(), ref, platform, progress=progress)
    if bar is not None:
        bar.render_finish()
    if curl_only:
        if state.emit:
            sys.stdout.write("".join(e.as_curl() + "\n" for e in exchanges))
        return exchanges
    return state.show(exchanges, fmt, columns=["seq", "method", "status", "purpose", "url"])


@cli.command()
@click.argument("registry")
@click.argument("repositories", nargs=-1)
@click.option("--tags", type=click.IntRange(min=1), default=None, help="Only the newest N tags of each repository.")
@click.option("--table", default="tags", show_default=True,
              help="The table to print: repositories, tags, manifests, platforms, layers, configs, history, referrers.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Also stream every table to Parquet under this folder (resumable: run again to finish).")
@output_option
@click.pass_obj
def census(state: State, registry: str, repositories: tuple[str, ...], tags: int | None, table: str,
           out: str | None, fmt: str):
    """A census of REGISTRY (or of REPOSITORIES, names or one glob): one table; failures counted on stderr."""
    frame, errors = verbs.census(state.source(), registry, list(repositories), tags=tags, table=table, out=out,
                                 progress=state.emit and sys.stderr.isatty())
    if state.emit and len(errors):
        click.echo(f"rx: {len(errors)} repositories or tags failed (see census.errors in Python)", err=True)
    return state.show(frame, fmt)
