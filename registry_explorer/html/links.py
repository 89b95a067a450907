"""The equivalent command of an HTML view: curl always, `skopeo inspect --raw` where skopeo has one.

oci.dag.dev shows a `crane ... | jq` line above every object; these are ours, built from the
document's reference and digest (shell-quoted, then HTML-escaped: a registry chose those strings).
Static HTML, no JavaScript: the lines sit in a <details> block to select and copy.
"""

from __future__ import annotations

import contextlib
import functools
import shlex
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ..core.errors import RegistryExplorerError
from .page import _esc, repo_context

__all__ = ["LOOPBACK", "Replay", "blob_commands", "commands_html", "document_commands", "in_repo", "manifest_commands",
           "replay_context", "repo_name"]

# Registries on these hosts are reached over plain http (the gate's loopback rule); others use https.
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def repo_name(ref: Any) -> str | None:
    """`registry/repository` of a Reference (None when the document was not fetched from a registry)."""
    if ref is None or not getattr(ref, "repository", None):
        return None
    return f"{ref.registry}/{ref.repository}"


@dataclass(frozen=True)
class Replay:
    """How the commands of a card authenticate, as the source that fetched the document did.

    `lines` come first (a `# expects $USERNAME $PASSWORD` note, a `TOKEN=$(curl ...)` line); `curl`
    and `skopeo` are the arguments each command then needs. The caller that holds the client (the
    Explorer) builds it; without one, a card's commands are anonymous, which is what an open
    registry needs.
    """

    lines: tuple[str, ...] = ()
    curl: str = ""  # e.g. ' -H "Authorization: Bearer $TOKEN"'
    skopeo: str = ""  # e.g. ' --creds "$USERNAME:$PASSWORD"'


_ANONYMOUS = Replay()
_REPLAY: ContextVar[Replay | None] = ContextVar("rx_replay", default=None)


def _replay() -> Replay:
    return _REPLAY.get() or _ANONYMOUS


@contextlib.contextmanager
def replay_context(replay: Replay | None) -> Iterator[None]:
    """Within the block, the commands blocks authenticate as `replay` says."""
    token = _REPLAY.set(replay)
    try:
        yield
    finally:
        _REPLAY.reset(token)


def _plain_http(ref: Any) -> bool:
    host = ref.api_host
    return host.rsplit(":", 1)[0] in LOOPBACK or host.startswith("[::1]")


def _base(ref: Any) -> str:
    scheme = "http" if _plain_http(ref) else "https"
    return f"{scheme}://{ref.api_host}/v2/{ref.repository}"


def manifest_commands(ref: Any, digest: str, media_type: str) -> list[str]:
    """curl for the manifest bytes, and skopeo inspect --raw (the exact bytes, a check independent of us)."""
    accept = f"Accept: {media_type}" if media_type else "Accept: */*"
    replay = _replay()
    # skopeo speaks https unless told otherwise; a loopback registry here is plain http.
    tls = " --tls-verify=false" if _plain_http(ref) else ""
    return [f"curl -sS{replay.curl} -H {shlex.quote(accept)} {shlex.quote(_base(ref) + '/manifests/' + digest)}",
            f"skopeo inspect --raw{tls}{replay.skopeo} "
            f"{shlex.quote(f'docker://{ref.registry}/{ref.repository}@{digest}')}"]


def blob_commands(ref: Any, digest: str) -> list[str]:
    """curl for a blob (skopeo has no command for one blob by digest)."""
    return [f"curl -sSL{_replay().curl} {shlex.quote(_base(ref) + '/blobs/' + digest)}"]


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
    lines = [*_replay().lines, *manifest_commands(ref, doc.digest, doc.media_type)]
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
