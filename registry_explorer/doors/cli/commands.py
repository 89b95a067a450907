"""The document verbs of `rx`: digest, manifest, config, ls, catalog, blob, validate.

Defaults follow crane: a bare value (`digest`), bare lines (`ls`, `catalog`), the exact stored
bytes (`manifest`, `config`, `blob`), so `D=$(rx digest REF)`, `rx ls REPO | xargs` and
`rx manifest REF | sha256sum` work as crane users expect; `-o json|table|csv` gives the
structured forms. Each command returns the verb's Python object (what `%rx` hands back).
"""

from __future__ import annotations

import shutil
import sys
import tempfile

import click

from ...core.errors import RegistryExplorerError
from .. import operations as verbs
from .program import State, cli, output_option, platform_option, progress_bar


@cli.command(short_help="The digest REF resolves to: one bare sha256:... line.")
@click.argument("ref")
@output_option
@click.pass_obj
def digest(state: State, ref: str, fmt: str | None):
    """The digest REF resolves to, as one bare `sha256:...` line (-o: digest, media type and size)."""
    desc = verbs.digest(state.source(), ref)
    return state.lines([desc.digest], desc) if fmt is None else state.show(desc, fmt)


@cli.command(short_help="The manifest of REF: its exact stored bytes.")
@click.argument("ref")
@platform_option
@output_option
@click.pass_obj
def manifest(state: State, ref: str, platform: str | None, fmt: str | None):
    """The manifest (or index) of REF: its exact stored bytes (`| sha256sum` is the digest).

    -o json: the document re-indented; -o table|csv: one row per descriptor it names.
    """
    doc = verbs.manifest(state.source(), ref, platform)
    if fmt is None:
        return state.raw(doc.raw, doc)
    return state.show(doc, fmt) if fmt == "json" else state.show(doc, fmt, rows=verbs.descriptors(doc))


@cli.command(short_help="The image config of REF: its exact stored bytes.")
@click.argument("ref")
@platform_option
@output_option
@click.pass_obj
def config(state: State, ref: str, platform: str | None, fmt: str | None):
    """The image config of REF: the exact stored blob (`| sha256sum` is the config digest).

    -o json: re-indented; -o table|csv: one row per top-level field.
    """
    cfg = verbs.config(state.source(), ref, platform)
    return state.raw(cfg.raw, cfg) if fmt is None else state.show(cfg, fmt)


@cli.command("ls", short_help="The tags of REPO, one a line.")
@click.argument("repo")
@output_option
@click.pass_obj
def ls_(state: State, repo: str, fmt: str | None):
    """The tags of REPO, one bare tag a line (-o: a `tag` column)."""
    tags = verbs.ls(state.source(), repo)
    if fmt is None:
        return state.lines(tags, tags)
    return state.show(tags, fmt, rows=None if fmt == "json" else [{"tag": t} for t in tags])


@cli.command(short_help="The repositories of REGISTRY, one a line.")
@click.argument("registry")
@output_option
@click.pass_obj
def catalog(state: State, registry: str, fmt: str | None):
    """The repositories REGISTRY lists, one bare name a line (-o: a `repository` column)."""
    repos = verbs.catalog(state.source(), registry)
    if fmt is None:
        return state.lines(repos, repos)
    return state.show(repos, fmt, rows=None if fmt == "json" else [{"repository": r} for r in repos])


@cli.command(short_help="The blob REPO@DIGEST, verified, to stdout.")
@click.argument("ref")
@click.pass_obj
def blob(state: State, ref: str):
    """The blob REPO@DIGEST names, verified, to stdout (its exact bytes)."""
    progress, bar = progress_bar("blob")
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


@cli.command(short_help="Fetch and verify every blob of REF (crane validate).")
@click.argument("ref")
@platform_option
@output_option
@click.pass_obj
def validate(state: State, ref: str, platform: str | None, fmt: str | None):
    """Fetch every manifest and blob of REF and verify each (`crane validate`): `PASS: REF`, or exit 1.

    Without --platform every platform of an index is validated. Nothing is answered from the disk
    cache. -o json|table|csv: one row per object (kind, digest, media type, size, ok, error).
    """
    state.client_kwargs.setdefault("cache", False)  # a pass must mean the registry holds these bytes
    rows = verbs.validate(state.source(), ref, platform)
    failed = [r for r in rows if not r["ok"]]
    if fmt is not None:
        state.show(rows, fmt, rows=rows)
    else:
        size = sum(r["size"] for r in rows if isinstance(r["size"], int) and r["size"] > 0)
        state.lines([f"FAIL: {r['kind']} {r['digest']}: {r['error']}" for r in failed]
                    or [f"PASS: {ref} ({len(rows)} objects, {size} bytes verified)"], rows)
    if failed and state.emit:
        raise RegistryExplorerError(f"{ref}: {len(failed)} of {len(rows)} objects failed to verify; "
                                    f"first: {failed[0]['digest']}: {failed[0]['error']}")
    return rows
