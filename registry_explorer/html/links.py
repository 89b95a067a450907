"""The equivalent command of an HTML view: curl always, `skopeo inspect --raw` where skopeo has one.

oci.dag.dev shows a `crane ... | jq` line above every object; these are ours, built from the
document's reference and digest (shell-quoted, then HTML-escaped: a registry chose those strings).
Static HTML, no JavaScript: the lines sit in a <details> block to select and copy.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable
from typing import Any

from ..core.errors import RegistryExplorerError
from .page import _esc, repo_context

__all__ = ["LOOPBACK", "blob_commands", "commands_html", "document_commands", "in_repo", "manifest_commands", "repo_name"]

# Registries on these hosts are reached over plain http (the gate's loopback rule); others use https.
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def repo_name(ref: Any) -> str | None:
    """`registry/repository` of a Reference (None when the document was not fetched from a registry)."""
    if ref is None or not getattr(ref, "repository", None):
        return None
    return f"{ref.registry}/{ref.repository}"


def _base(ref: Any) -> str:
    host = ref.api_host
    scheme = "http" if host.rsplit(":", 1)[0] in LOOPBACK or host.startswith("[::1]") else "https"
    return f"{scheme}://{host}/v2/{ref.repository}"


def manifest_commands(ref: Any, digest: str, media_type: str) -> list[str]:
    """curl for the manifest bytes, and skopeo inspect --raw (the exact bytes, a check independent of us)."""
    accept = f"Accept: {media_type}" if media_type else "Accept: */*"
    return [f"curl -sS -H {shlex.quote(accept)} {shlex.quote(_base(ref) + '/manifests/' + digest)}",
            f"skopeo inspect --raw {shlex.quote(f'docker://{ref.registry}/{ref.repository}@{digest}')}"]


def blob_commands(ref: Any, digest: str) -> list[str]:
    """curl for a blob (skopeo has no command for one blob by digest)."""
    return [f"curl -sSL {shlex.quote(_base(ref) + '/blobs/' + digest)}"]


def commands_html(lines: list[str]) -> str:
    """A closed <details> with one <pre> per command."""
    if not lines:
        return ""
    body = "".join(f"<pre>{_esc(line)}</pre>" for line in lines)
    return f"<details><summary>commands</summary>{body}</details>"


def document_commands(doc: Any) -> str:
    """The commands block of a fetched manifest or index (its config blob too); '' when not fetched."""
    ref = getattr(doc, "reference", None)
    if repo_name(ref) is None or getattr(ref, "api_host", None) is None:
        return ""  # not fetched, or read from an OCI layout: there is no registry URL to curl
    lines = manifest_commands(ref, doc.digest, doc.media_type)
    try:
        cfg = getattr(doc, "config", None)  # an Index has none
    except RegistryExplorerError:  # a malformed config descriptor: the view shows that elsewhere
        cfg = None
    if cfg is not None:
        lines += [f"# config {cfg.digest}", *blob_commands(ref, cfg.digest)]
    return commands_html(lines)


def in_repo(get_ref: Callable[[Any], Any]) -> Callable:
    """Decorate a view so the digests it renders pop up as `repo@digest` of the object's repository."""
    def deco(view: Callable[[Any], str]) -> Callable[[Any], str]:
        @functools.wraps(view)
        def wrapper(obj: Any) -> str:
            with repo_context(repo_name(get_ref(obj))):
                return view(obj)
        return wrapper
    return deco
