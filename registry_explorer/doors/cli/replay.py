"""`rx trace --curl`: the exchanges of a pull as a shell script whose every command line replays.

What cannot be replayed is a comment that says why, so `rx trace REF --curl | bash` runs:
- a failed exchange (the https probe of a plain-http registry, a refused connection) has no
  answer to replay: `# GET https://host/v2/ failed (...): ...`;
- a hop of a redirect is followed by the `curl -L` of the request that was redirected (its URL
  carries a pre-signed signature, redacted, so it could not be sent as written anyway);
- an answer from the local cache was never a request (`Exchange.origin == "cache"`).
A token request assigns `TOKEN=$(...)`, so the lines after it carry the token it got. Blob
bodies go to files named after their digests in `out_dir`, never the current directory.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from urllib.parse import urlsplit

from ...core.terminal import shown_line, visible
from ...http.trace import Exchange

__all__ = ["curl_script", "replay_line"]


def _probe_note(ex: Exchange, later: Sequence[Exchange]) -> str:
    """Why a failed https probe does not matter: the registry answered on plain http afterwards."""
    parts = urlsplit(ex.url)
    if ex.purpose == "ping" and parts.scheme == "https":
        plain = f"http://{parts.netloc}/"
        if any(e.url.startswith(plain) for e in later):
            return "; this registry speaks plain http, so the lines below use http://"
    return ""


def replay_line(ex: Exchange, out_dir: str | None = None, later: Sequence[Exchange] = ()) -> str:
    """The script line for one exchange: a curl command that replays it, or a comment saying why not."""
    if ex.origin == "cache":
        return shown_line(ex.as_curl())
    if ex.status is None:
        why = ex.error or "no answer"
        return shown_line(f"# {ex.method} {ex.url} failed ({why}): nothing to replay{_probe_note(ex, later)}")
    if ex.redirected_from is not None:
        return shown_line(f"# {ex.method} {ex.url}: the {ex.status or ''} answer to the redirect of "
                          f"#{ex.redirected_from}, which `curl -L` above follows")
    return visible(ex.as_curl(assign_token=ex.purpose == "token", out_dir=out_dir))


def curl_script(exchanges: Sequence[Exchange], out_dir: str) -> str:
    """A script of every exchange, in order, starting with comments on what it expects and where files go."""
    lines = [replay_line(ex, out_dir, exchanges[i + 1:]) for i, ex in enumerate(exchanges)]
    needs: list[str] = []
    assigns_token = any(ex.purpose == "token" and ex.status is not None for ex in exchanges)
    for ex, line in zip(exchanges, lines):
        if not line.startswith("#"):
            needs += [v for v in ex.curl_variables() if v not in needs and not (v == "TOKEN" and assigns_token)]
    head = [f"# rx trace: {len(exchanges)} exchanges; blob bodies go to {shlex.quote(out_dir)}"]
    if needs:
        head.append("# expects " + " ".join(f"${n}" for n in needs) + " to be set")
    return "".join(line + "\n" for line in head + lines)
