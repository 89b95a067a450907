"""`rx packages REF` and `rx diff A B` (issue 25): what is installed, and what changed, without pulling.

Registered on the `rx` group when `doors.cli` is imported, so `%rx packages REF` and `%rx diff A B` run the
same commands and return the DataFrame (`rx.packages`, `rx.diff`). Databases that could not be read are
named on stderr (the rows are what could be read); `--cost` adds what the call moved on the wire.
"""

from __future__ import annotations

from typing import Any

import click

from ...core.terminal import shown_line
from ...frames.changes import diff as diff_frame
from ...frames.changes import diff_summary
from ...frames.inventory_tables import packages as packages_frame
from ...inventory.image import ECOSYSTEMS
from .program import State, cli, output_option, platform_option

__all__ = ["diff", "packages"]

PACKAGE_TABLE = ["ecosystem", "name", "version", "architecture", "layer", "database"]
SBOM_TABLE = ["ecosystem", "name", "version", "sbom_version", "status", "layer"]
DIFF_TABLE = ["path", "change", "type_a", "type_b", "size_a", "size_b", "layer_a", "layer_b"]


def _report(state: State, df: Any, cost: bool) -> None:
    """Unreadable databases (always) and the cost (with --cost) on stderr: stdout stays the table."""
    if not state.emit:
        return
    for e in df.attrs.get("errors", []):  # paths and messages come from the image: controls made visible
        click.echo(shown_line(f"rx: not read: {e['database']} (layer {e['layer']}): {e['message']}"), err=True)
    if cost:
        click.echo(f"rx: {df.attrs['requests']} requests, {df.attrs['bytes_moved']:,} bytes moved "
                   f"(pulling the layers: {df.attrs['pull_bytes']:,} bytes)", err=True)


@cli.command()
@click.argument("ref")
@platform_option
@click.option("--ecosystem", "ecosystems", multiple=True, type=click.Choice(ECOSYSTEMS),
              help="Read only these package databases (repeatable; default: all).")
@click.option("--sbom", is_flag=True, help="Put the image's SBOM next to the installed packages (a status per row).")
@click.option("--cost", is_flag=True, help="Say on stderr how many requests and bytes it took.")
@output_option
@click.pass_obj
def packages(state: State, ref: str, platform: str | None, ecosystems: tuple[str, ...], sbom: bool, cost: bool,
             fmt: str | None):
    """The packages installed in REF and the layer that installed each, read from its package databases.

    A table by default; -o csv: the same columns; -o json: every column (source package, licence, build step).
    """
    df = packages_frame(state.source(), ref, platform=platform, compare_sbom=sbom, ecosystems=ecosystems or None)
    _report(state, df, cost)
    if fmt == "json":
        return state.show(df, "json")
    return state.show(df, fmt or "table", SBOM_TABLE if sbom else PACKAGE_TABLE)


@cli.command()
@click.argument("a")
@click.argument("b")
@platform_option
@click.option("--platform-b", default=None, help="B's platform when it differs from A's (two platforms of one index).")
@click.option("--summary", is_flag=True, help="Counts and bytes per top-level directory and change instead.")
@click.option("--cost", is_flag=True, help="Say on stderr how many requests and bytes it took.")
@output_option
@click.pass_obj
def diff(state: State, a: str, b: str, platform: str | None, platform_b: str | None, summary: bool, cost: bool,
         fmt: str | None):
    """Every path that differs between images A and B (added, removed, type changed, modified, metadata only).

    A table by default; -o csv: the same columns; -o json: every column (modes, owners, links, digests, mtimes).
    """
    df = diff_frame(state.source(), a, b, platform=(platform, platform_b or platform))
    _report(state, df, cost)
    if summary:
        return state.show(diff_summary(df), fmt or "table")
    if fmt == "json":
        return state.show(df, "json")
    return state.show(df, fmt or "table", DIFF_TABLE)
