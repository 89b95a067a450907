"""Rich HTML views for Jupyter: references, descriptors, manifests, indexes, configs and the HTTP trace.

Plain HTML with one small inline <style> scoped under the `rx` class: no JavaScript, no
widgets, no network, so the output survives being saved in a notebook and re-opened anywhere.
Everything a registry sends (annotations, labels, history, headers, even media types and
digests) is hostile until escaped, so every string goes through `_esc` on its way out, and
only http(s) URLs ever become links.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from html import escape
from typing import Any
from urllib.parse import urlsplit

from . import mediatypes as mt
from .errors import InvalidManifest
from .trace import redact_body, redact_headers
from .units import human_size

OCI_SPEC = "https://github.com/opencontainers/image-spec/blob/main/"
DOCKER_SPEC = "https://distribution.github.io/distribution/spec/manifest-v2-2/"
# Trace rows rendered by default; a full ring (1000 exchanges, each with its headers) would
# make a multi-megabyte output cell that the notebook then stores forever.
TRACE_HTML_LIMIT = 200

# human_size lives in units.py (shared with frames); re-exported here as part of this module's API.
__all__ = [
    "DOCKER_SPEC", "OCI_SPEC", "TRACE_HTML_LIMIT", "config_html", "descriptor_html", "exchange_html", "human_size",
    "index_html", "manifest_html", "reference_html", "short_digest", "spec_url", "trace_html",
]

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
.rx .rx-dg:hover .rx-dg-full{display:block}
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


def _digest(digest: str | None) -> str:
    if not digest:
        return _muted()
    full = _esc(digest)
    # The full digest sits in a hover pop-up that selects whole on one click (user-select:all).
    return (
        f'<span class="rx-dg" title="{full}"><code class="rx-dg-short">{_esc(short_digest(digest))}</code>'
        f'<code class="rx-dg-full">{full}</code></span>'
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


# ---------------------------------------------------------------------------------------------
# References and descriptors


def reference_html(ref: Any) -> str:
    """A card for a Reference: the normalised string, registry, repository, tag and digest."""
    body = f"<h4>Reference {_code(ref)}</h4>" + _kv(
        [
            ("registry", _code(ref.registry)),
            ("API host", _code(ref.api_host) if ref.api_host != ref.registry else None),
            ("repository", _code(ref.repository)),
            ("tag", _code(ref.tag) if ref.tag else None),
            ("digest", _digest(ref.digest) if ref.digest else None),
        ]
    )
    return _wrap(body)


def _descriptor_rows(desc: Any) -> list[tuple[str, str | None]]:
    return [
        ("media type", _media_type(desc.media_type)),
        ("digest", _digest(desc.digest)),
        ("size", _size(desc.size)),
        ("platform", _platform(desc.platform)),
        ("artifact type", _media_type(desc.artifact_type) if desc.artifact_type else None),
        ("urls", _urls(desc.urls)),
        ("data", f"{len(desc.data)} bytes embedded" if getattr(desc, "data", None) is not None else None),
        ("attestation", '<span class="rx-badge rx-att">attestation</span>' if desc.is_attestation else None),
    ]


def _descriptor_body(desc: Any, title: str = "Descriptor") -> str:
    return f"<h4>{_esc(title)}</h4>" + _kv(_descriptor_rows(desc)) + _mapping("annotations", desc.annotations)


def descriptor_html(desc: Any) -> str:
    """A card for a Descriptor: media type, digest, size, platform, artifact type, urls, annotations."""
    return _wrap(_descriptor_body(desc))


def _doc_header(kind: str, doc: Any) -> str:
    title = kind if doc.reference is None else f"{kind} {doc.reference}"
    # The document's artifact type (with the pre-1.1 config fallback) replaces the descriptor's.
    at = doc.artifact_type
    rows = [(k, (_media_type(at) if at else None) if k == "artifact type" else v)
            for k, v in _descriptor_rows(doc.descriptor)]
    return f"<h4>{_esc(title)}</h4>" + _kv(rows)


def _subject(doc: Any) -> str:
    try:
        subject = doc.subject
    except InvalidManifest:  # a malformed subject must not break the whole view
        return "<h4>subject</h4>" + _muted("malformed subject")
    return _descriptor_body(subject, "subject") if subject is not None else ""


# ---------------------------------------------------------------------------------------------
# Manifests, indexes, configs


def manifest_html(m: Any) -> str:
    """A manifest: its descriptor, config descriptor, layers table, subject and annotations."""
    parts = [_doc_header("Manifest", m)]
    if mt.is_schema1(m.media_type):
        parts.append(f"<p>{_muted('Docker schema1 (deprecated): no config blob, layer sizes unknown')}</p>")
    cfg = m.config
    if cfg is not None:
        parts.append(_descriptor_body(cfg, "config"))
    layers = m.layers
    extra = any(d.urls or d.annotations for d in layers)
    headers = ["#", "digest", "media type", "compression", "size"] + (["urls / annotations"] if extra else [])
    rows = []
    for i, d in enumerate(layers):
        row = [str(i), _digest(d.digest), _media_type(d.media_type), _esc(mt.compression(d.media_type)),
               _size(d.size)]
        if extra:
            notes = [_link(u) for u in d.urls]
            notes += [f"{_code(k)} = {_value(v)}" for k, v in sorted(d.annotations.items())]
            row.append("<br>".join(notes))
        rows.append(row)
    known = [d.size for d in layers if d.size >= 0]
    total = f" — {human_size(sum(known))} compressed" if layers and len(known) == len(layers) else ""
    parts.append(f"<h4>layers ({len(layers)}){_esc(total)}</h4>")
    parts.append(_table(headers, rows) if rows else _muted("no layers"))
    parts.append(_subject(m))
    parts.append(_mapping("annotations", m.annotations))
    return _wrap("".join(parts))


def index_html(idx: Any) -> str:
    """An index: its descriptor and one row per child (platform, digest, size, type, attestation)."""
    parts = [_doc_header("Index", idx)]
    rows = []
    children = idx.manifests
    for i, d in enumerate(children):
        p = d.platform
        marker = ""
        if d.is_attestation:
            target = d.annotations.get("vnd.docker.reference.digest")
            marker = '<span class="rx-badge rx-att">attestation</span>'
            if target:
                marker += " for " + _digest(target)
        rows.append(
            [
                str(i),
                _esc(p.os) if p else _muted(),
                _esc(p.architecture) if p else _muted(),
                _esc(p.variant) if p and p.variant else "",
                _esc(p.os_version) if p and p.os_version else "",
                _digest(d.digest),
                _size(d.size),
                _media_type(d.media_type),
                _media_type(d.artifact_type) if d.artifact_type else "",
                marker,
            ]
        )
    headers = ["#", "os", "architecture", "variant", "os.version", "digest", "size", "media type", "artifactType", ""]
    parts.append(f"<h4>manifests ({len(children)})</h4>")
    parts.append(_table(headers, rows) if rows else _muted("no manifests"))
    # Annotations of children (e.g. the attestation's reference digest) are in the rows' cards.
    for i, d in enumerate(children):
        if d.annotations:
            parts.append(
                f"<details><summary>annotations of #{i} ({len(d.annotations)})</summary>"
                f"{_mapping('annotations', d.annotations)}</details>"
            )
    parts.append(_subject(idx))
    parts.append(_mapping("annotations", idx.annotations))
    return _wrap("".join(parts))


def config_html(cfg: Any) -> str:
    """An image config: platform, created, runtime settings, labels and the build history."""
    parts = [f"<h4>Image config {_digest(cfg.descriptor.digest)}</h4>"]
    plat = "/".join(_esc(x) for x in (cfg.os, cfg.architecture, cfg.variant) if x)
    env = cfg.env
    parts.append(
        _kv(
            [
                ("platform", f"<code>{plat}</code>" if plat else None),
                ("os.version", _code(cfg.os_version) if cfg.os_version else None),
                ("created", _esc(cfg.created) if cfg.created else None),
                ("author", _esc(cfg.author) if cfg.author else None),
                ("entrypoint", _argv(cfg.entrypoint)),
                ("cmd", _argv(cfg.cmd)),
                ("working dir", _code(cfg.working_dir) if cfg.working_dir else None),
                ("user", _code(cfg.user) if cfg.user else None),
                ("env", "<br>".join(_code(e, "rx-wrap") for e in env) if env else None),
                ("exposed ports", ", ".join(_code(p) for p in cfg.exposed_ports) or None),
                ("volumes", ", ".join(_code(v) for v in cfg.volumes) or None),
                ("layers (diff_ids)", str(len(cfg.diff_ids))),
            ]
        )
    )
    parts.append(_mapping("labels", cfg.labels))
    history = cfg.history
    if history:
        rows = []
        layer = 0
        for i, h in enumerate(history):
            # Only non-empty entries made a layer; number them so they line up with diff_ids.
            if h.empty_layer:
                layer_cell = _muted("empty")
            else:
                layer_cell = str(layer)
                layer += 1
            rows.append(
                [
                    str(i),
                    _esc(h.created) if h.created else _muted(),
                    f'<code class="rx-wrap">{_esc(h.created_by)}</code>' if h.created_by else "",
                    layer_cell,
                    _esc(h.comment) if h.comment else "",
                ]
            )
        parts.append(f"<h4>history ({len(history)})</h4>")
        parts.append(_table(["#", "created", "created_by", "layer / empty_layer", "comment"], rows))
    return _wrap("".join(parts))


# ---------------------------------------------------------------------------------------------
# The HTTP trace


def _status(ex: Any) -> str:
    if ex.status is None:
        return '<span class="rx-err">error</span>' if ex.error else _muted("pending")
    cls = "rx-ok" if ex.status < 300 else "rx-redir" if ex.status < 400 else "rx-err"
    return f'<span class="{cls}">{_esc(ex.status)}</span>'


def _headers(title: str, headers: Mapping[str, str] | None) -> str:
    if not headers:
        return ""
    # Records are redacted when created; redacting again costs nothing and covers hand-made ones.
    rows = [(_code(k), f'<span class="rx-wrap">{_esc(v)}</span>') for k, v in redact_headers(headers).items()]
    return f"<h4>{_esc(title)}</h4>" + _table(["header", "value"], rows)


def _time(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc).isoformat()
        except (OverflowError, OSError, ValueError):
            return ""
    return ""


def _exchange_body(ex: Any) -> str:
    parts = [f"<pre>{_esc(ex.method)} {_esc(ex.url)}</pre>"]
    rl = ex.rate_limit or {}
    parts.append(
        _kv(
            [
                ("status", _status(ex)),
                ("purpose", _esc(ex.purpose)),
                ("started", _esc(ex.started.isoformat()) if isinstance(ex.started, datetime) else None),
                ("bytes", _size(ex.bytes) if ex.bytes is not None else None),
                ("elapsed", f"{ex.elapsed_ms:.1f} ms" if isinstance(ex.elapsed_ms, (int, float)) else None),
                ("auth", _esc(ex.auth_scheme) if ex.auth_scheme else None),
                ("rate limit", _esc(f"{rl.get('remaining')} of {rl.get('limit')} left "
                                    f"per {rl.get('window_seconds')} s") if rl else None),
                ("error", f'<span class="rx-err rx-wrap">{_esc(ex.error)}</span>' if ex.error else None),
            ]
        )
    )
    parts.append(_headers("request headers", ex.request_headers))
    if ex.form:
        parts.append("<h4>form</h4>" + _json_pre(redact_body(dict(ex.form))))
    parts.append(_headers("response headers", ex.response_headers))
    if ex.response_body is not None:
        parts.append("<h4>response body (secrets redacted)</h4>" + _json_pre(redact_body(ex.response_body)))
    claims = ex.token_claims
    if claims:
        # decode_jwt already dropped the signature; never trust a hand-made record to have done so.
        shown = {"header": claims.get("header"), "claims": claims.get("claims"), "signature": "<redacted>"}
        inner = claims.get("claims") if isinstance(claims.get("claims"), dict) else {}
        times = [(k, _time(inner.get(k))) for k in ("iat", "nbf", "exp")]
        parts.append("<h4>token claims (JWT, signature redacted)</h4>" + _json_pre(shown))
        parts.append(_kv([(k, _esc(t)) for k, t in times if t]) if any(t for _, t in times) else "")
    parts.append("<h4>replay with curl</h4>" + f"<pre>{_esc(ex.as_curl())}</pre>")
    return "".join(parts)


def exchange_html(ex: Any) -> str:
    """One HTTP exchange: request line, status, headers, token body and JWT claims, and curl replay."""
    return _wrap(f"<h4>#{_esc(ex.seq)} {_esc(ex.purpose)}</h4>" + _exchange_body(ex))


def trace_html(trace: Any, *, details: bool = True, limit: int | None = TRACE_HTML_LIMIT) -> str:
    """The trace as a table (latest `limit` exchanges), each row with a collapsible full exchange."""
    records = list(trace)
    if not records:
        return _wrap(f"<h4>HTTP trace</h4>{_muted('no exchanges recorded')}")
    shown = records[-limit:] if limit is not None and limit >= 0 else records
    note = f" — latest {len(shown)} of {len(records)}" if len(shown) < len(records) else f" — {len(records)}"
    headers = ["seq", "method", "status", "purpose", "url", "bytes", "elapsed ms", "auth"]
    rows = []
    for ex in shown:
        cells = [
            _esc(ex.seq), _esc(ex.method), _status(ex), _esc(ex.purpose),
            f'<span class="rx-wrap">{_esc(ex.url)}</span>',
            _size(ex.bytes) if ex.bytes is not None else "",
            f"{ex.elapsed_ms:.1f}" if isinstance(ex.elapsed_ms, (int, float)) else "",
            _esc(ex.auth_scheme) if ex.auth_scheme else "",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        if details:
            rows.append(
                f'<tr><td colspan="{len(headers)}"><details><summary>details of #{_esc(ex.seq)}</summary>'
                f"{_exchange_body(ex)}</details></td></tr>"
            )
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return _wrap(f"<h4>HTTP trace{_esc(note)}</h4>{table}")
