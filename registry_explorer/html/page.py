"""The building blocks of the HTML views: the scoped <style>, escaping, links, digests, tables.

Everything a registry sends is hostile until escaped, so every helper here escapes what it is
given, and only http(s) URLs become links. Part of `html` (which re-exports the public names).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from html import escape
from typing import Any
from urllib.parse import urlsplit

from ..core import mediatypes as mt
from ..core.units import human_size

OCI_SPEC = "https://github.com/opencontainers/image-spec/blob/main/"
DOCKER_SPEC = "https://distribution.github.io/distribution/spec/manifest-v2-2/"

_STYLE = """<style>
.rx{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;line-height:1.4}
.rx h4{margin:.6em 0 .3em;font-size:14px}
.rx table{border-collapse:collapse;margin:.2em 0 .6em}
.rx th,.rx td{border:1px solid var(--jp-border-color2,#ddd);padding:2px 6px;text-align:left;vertical-align:top}
.rx th{background:var(--jp-layout-color2,rgba(127,127,127,.12));font-weight:600}
.rx table.rx-kv th{width:9em;white-space:nowrap}
.rx td.rx-num{text-align:right;white-space:nowrap}
.rx code,.rx pre{font-family:var(--jp-code-font-family,monospace);font-size:12px}
.rx pre{white-space:pre-wrap;word-break:break-all;margin:.2em 0;padding:4px 6px;
 background:var(--jp-layout-color2,rgba(127,127,127,.08))}
.rx .rx-wrap{white-space:pre-wrap;word-break:break-word}
.rx .rx-dg{position:relative;white-space:nowrap}
.rx .rx-dg-full{display:none;position:absolute;left:0;top:100%;z-index:10;padding:2px 4px;
 border:1px solid var(--jp-border-color1,#999);background:var(--jp-layout-color0,#fff);
 user-select:all;-webkit-user-select:all}
.rx .rx-dg:hover .rx-dg-full{display:block !important}
.rx .rx-badge{display:inline-block;padding:0 5px;border-radius:8px;font-size:11px;
 background:rgba(127,127,127,.2)}
.rx .rx-att{background:rgba(230,160,0,.3)}
.rx .rx-ok{color:#1a7f37}.rx .rx-redir{color:#9a6700}.rx .rx-err{color:#cf222e}
.rx .rx-muted{opacity:.6}
.rx details>summary{cursor:pointer}
</style>"""


def _esc(value: Any) -> str:
    # quote=True so the same helper is safe inside title="..." and href="...".
    return escape("" if value is None else str(value), quote=True)


def _wrap(body: str) -> str:
    return f'{_STYLE}<div class="rx">{body}</div>'


def _code(value: Any, cls: str = "") -> str:
    return f'<code class="{cls}">{_esc(value)}</code>' if cls else f"<code>{_esc(value)}</code>"


def _muted(text: str = "—") -> str:
    return f'<span class="rx-muted">{_esc(text)}</span>'


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in value.strip())


def _link(url: Any) -> str:
    """An <a> for http(s) URLs; anything else (javascript:, data:, garbage) stays text."""
    text = "" if url is None else str(url)
    if _is_http_url(text):
        return f'<a href="{_esc(text.strip())}" target="_blank" rel="noopener noreferrer">{_esc(text)}</a>'
    return _esc(text)


def _value(value: Any) -> str:
    # Annotation and label values are often URLs (org.opencontainers.image.source); link those.
    text = "" if value is None else str(value)
    return _link(text) if _is_http_url(text) else f'<span class="rx-wrap">{_esc(text)}</span>'


def _size(n: int | None) -> str:
    if n is None or isinstance(n, bool) or not isinstance(n, int) or n < 0:
        return _muted("unknown")
    return f'<span title="{n:,} bytes">{_esc(human_size(n))}</span>'


def short_digest(digest: str | None, length: int = 12) -> str:
    """`sha256:abcdef012345…`: the algorithm and the first `length` hex digits."""
    text = digest or ""
    algo, sep, hexpart = text.partition(":")
    if sep and len(hexpart) > length:
        return f"{algo}:{hexpart[:length]}…"
    if not sep and len(text) > length + 8:
        return text[: length + 8] + "…"
    return text


# The repository (`registry/name`) of the document being rendered, when it was fetched from one: its
# digests then pop up as `repo@digest`, a reference to copy into skopeo/crane/docker (issue 14).
_REPO: ContextVar[str | None] = ContextVar("rx_html_repo", default=None)


@contextmanager
def repo_context(repo: str | None) -> Iterator[None]:
    """Within the block, `_digest` offers `repo@digest` to copy (None: the bare digest, as before)."""
    token = _REPO.set(repo)
    try:
        yield
    finally:
        _REPO.reset(token)


def _digest(digest: str | None) -> str:
    if not digest:
        return _muted()
    full = _esc(digest)
    repo = _REPO.get()
    copy = _esc(f"{repo}@{digest}") if repo else full
    # The full digest sits in a hover pop-up that selects whole on one click (user-select:all). The
    # inline display:none keeps it hidden where the <style> block is dropped (an untrusted, unrun notebook).
    return (
        f'<span class="rx-dg" title="{full}"><code class="rx-dg-short">{_esc(short_digest(digest))}</code>'
        f'<code class="rx-dg-full" style="display:none">{copy}</code></span>'
    )


def spec_url(media_type: str | None) -> str | None:
    """The spec page that defines `media_type` (OCI image-spec or Docker schema2), or None."""
    m = mt.base(media_type)
    if m.startswith("application/vnd.oci."):
        if m == mt.OCI_INDEX:
            return OCI_SPEC + "image-index.md"
        if m == mt.OCI_MANIFEST:
            return OCI_SPEC + "manifest.md"
        if m == mt.OCI_CONFIG:
            return OCI_SPEC + "config.md"
        if m.startswith("application/vnd.oci.image.layer."):
            return OCI_SPEC + "layer.md"
        return OCI_SPEC + "media-types.md"
    if m.startswith("application/vnd.docker."):
        return DOCKER_SPEC
    return None


def _media_type(media_type: str | None) -> str:
    if not media_type:
        return _muted()
    url = spec_url(media_type)
    if url is None:
        return _code(media_type)
    # The href is one of our constants, never the registry's string.
    return f'<a href="{_esc(url)}" target="_blank" rel="noopener noreferrer">{_code(media_type)}</a>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """Cells in `rows` are already-escaped HTML."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv(rows: Iterable[tuple[str, str | None]]) -> str:
    """A two-column key/value table; rows whose value is None are left out."""
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in rows if v is not None)
    return f'<table class="rx-kv"><tbody>{body}</tbody></table>'


def _mapping(title: str, mapping: Mapping[str, Any] | None) -> str:
    if not mapping:
        return ""
    rows = [(_code(k), _value(v)) for k, v in sorted(mapping.items(), key=lambda kv: str(kv[0]))]
    return f"<h4>{_esc(title)}</h4>" + _table(["key", "value"], rows)


def _platform(p: Any) -> str | None:
    return None if p is None else _code(p)


def _urls(urls: Iterable[str]) -> str | None:
    items = [_link(u) for u in urls]
    return "<br>".join(items) if items else None


def _argv(argv: list[str] | None) -> str | None:
    # JSON form, as in a Dockerfile's exec form, so spaces inside arguments stay visible.
    return None if argv is None else _code(json.dumps(argv, ensure_ascii=False))


def _json_pre(obj: Any) -> str:
    return f"<pre>{_esc(json.dumps(obj, indent=2, ensure_ascii=False, default=str, sort_keys=False))}</pre>"
