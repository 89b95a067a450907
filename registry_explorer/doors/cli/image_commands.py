"""The image verbs of `rx`: cat, files, export, pull, trace, census.

`export` is crane's: the image's merged filesystem as a tar stream (`rx export REF - | tar -tv`);
the OCI layout copy is `pull --format oci`. The old `rx export REF DIR` spelling still copies a
layout for one release, with a deprecation line on stderr.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

import click

from .. import operations as verbs
from .output import tar_mode
from .program import State, cli, output_option, platform_option, progress_bar
from .replay import curl_script

FILE_COLUMNS = ["path", "type", "size", "mode", "linkname"]
# A DEST with one of these suffixes is a tar file; `-` is stdout (crane export's spelling).
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst")


@cli.command(short_help="One file of REF, verified, to stdout.")
@click.argument("ref")
@click.argument("path")
@platform_option
@click.pass_obj
def cat(state: State, ref: str, path: str, platform: str | None):
    """One file of REF's merged filesystem, to stdout (verified; ranged where possible)."""
    data = verbs.cat(state.source(), ref, path, platform)
    return state.raw(data, data)


@cli.command(short_help="The files of REF, with tar -tv modes.")
@click.argument("ref")
@click.option("--layer", type=int, default=None, help="List only layer N (0 = base) instead of the merged tree.")
@platform_option
@output_option
@click.pass_obj
def files(state: State, ref: str, layer: int | None, platform: str | None, fmt: str | None):
    """The files of REF (the merged filesystem, or one layer's entries): a table, modes as `tar -tv` shows them.

    -o csv: the same columns; -o json: every column, `mode` as the number the library keeps.
    """
    frame = verbs.files(state.source(), ref, layer, platform)
    if fmt == "json":
        return state.show(frame, "json")
    rows = verbs.plain(frame[FILE_COLUMNS])
    for r in rows:
        r["mode"] = tar_mode(r["type"], r["mode"])  # formatted at the edge: the frame keeps the integer
    return state.show(frame, fmt or "table", FILE_COLUMNS, rows=rows)


def _is_layout_dest(dest: str) -> bool:
    """The deprecated `rx export REF DIR`: an existing directory, a trailing '/', or a name with no tar suffix."""
    if dest == "-":
        return False
    if os.path.isdir(dest) or dest.endswith(("/", os.sep)):
        return True
    return not os.path.exists(dest) and not dest.lower().endswith(_TAR_SUFFIXES)


@cli.command(short_help="The filesystem of REF as a tar stream (crane export).")
@click.argument("ref")
@click.argument("dest", default="-")
@platform_option
@click.pass_obj
def export(state: State, ref: str, dest: str, platform: str | None):
    """The merged filesystem of REF as a tar stream to DEST (`-`, the default, is stdout), as `crane export`.

    Whiteouts applied; directories, symlinks, hard links, modes, owners and times kept; every file
    verified. `rx export REF - | tar -tv` lists it. (An OCI layout copy is `rx pull --format oci`.)
    """
    if _is_layout_dest(dest):
        if state.emit:
            click.echo("rx: `rx export REF DIR` (an OCI layout) is deprecated and goes in 0.3: use "
                       "`rx pull --format oci REF DIR`; `rx export REF -` (or FILE.tar) writes a tar stream",
                       err=True)
        return _pull(state, ref, dest, platform)
    if dest == "-" and not state.emit:
        buf = io.BytesIO()  # %rx: the tar as bytes
        verbs.export(state.source(), ref, buf, platform)
        return buf.getvalue()
    if dest == "-":
        if sys.stdout.isatty():
            raise click.UsageError("refusing to write a tar stream to a terminal: pipe it (`rx export REF - | "
                                   "tar -tv`) or name a file (`rx export REF fs.tar`)")
        sys.stdout.flush()
        verbs.export(state.source(), ref, sys.stdout.buffer, platform)
        sys.stdout.buffer.flush()
        return None
    part = Path(dest).with_name(f".{Path(dest).name}.part")
    try:
        with open(part, "wb") as f:  # complete or absent: renamed into place only once written
            verbs.export(state.source(), ref, f, platform)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return Path(dest)


def _pull(state: State, ref: str, dest: str, platform: str | None):
    progress, bar = progress_bar("pull")
    result = verbs.pull(state.source(), ref, dest, platform, progress=progress)
    if bar is not None:
        bar.render_finish()
    return state.lines([result], result)


@cli.command(short_help="Copy REF into an OCI layout (--format oci).")
@click.option("--format", "layout_format", type=click.Choice(["oci"]), default="oci", show_default=True,
              help="The layout to write (crane's --format oci).")
@click.argument("ref")
@click.argument("dest", type=click.Path(file_okay=False))
@platform_option
@click.pass_obj
def pull(state: State, layout_format: str, ref: str, dest: str, platform: str | None):
    """Copy REF into an OCI image layout at DEST (the whole index unless --platform); prints the layout reference."""
    return _pull(state, ref, dest, platform)


@cli.command(short_help="Every request of a pull of REF (--curl: a replay script).")
@click.argument("ref")
@platform_option
@click.option("--curl", "curl_only", is_flag=True,
              help="Print a script of curl lines that replay the pull (what cannot be replayed is a comment).")
@click.option("--dir", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Where the script's curl -o writes blob bodies (default: a new temporary directory, named on stderr).")
@output_option
@click.pass_obj
def trace(state: State, ref: str, platform: str | None, curl_only: bool, out_dir: str | None, fmt: str | None):
    """Every request of a pull of REF, redacted, as a table (--curl: a script that replays it, $TOKEN for the token)."""
    progress, bar = progress_bar("pull")
    # Every request of a pull: nothing may be answered from the disk cache instead.
    state.client_kwargs.setdefault("cache", False)
    exchanges = verbs.trace(state.source(), ref, platform, progress=progress)
    if bar is not None:
        bar.render_finish()
    if curl_only:
        if state.emit:
            if out_dir is None:
                out_dir = tempfile.mkdtemp(prefix="rx-trace-")
                click.echo(f"rx: the script's curl -o files go to {out_dir} (choose with --dir)", err=True)
            os.makedirs(out_dir, exist_ok=True)
            sys.stdout.write(curl_script(exchanges, os.path.abspath(out_dir)))
        return exchanges
    return state.show(exchanges, fmt or "table", columns=["seq", "method", "status", "purpose", "url"])


@cli.command(short_help="A census of REGISTRY as one table.")
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
           out: str | None, fmt: str | None):
    """A census of REGISTRY (or of REPOSITORIES, names or one glob): one table; failures counted on stderr."""
    frame, errors = verbs.census(state.source(), registry, list(repositories), tags=tags, table=table, out=out,
                                 progress=state.emit and sys.stderr.isatty())
    if state.emit and len(errors):
        click.echo(f"rx: {len(errors)} repositories or tags failed (see census.errors in Python)", err=True)
    return state.show(frame, fmt or "table")
