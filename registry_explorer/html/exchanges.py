"""HTML for the HTTP trace: one exchange (headers, token claims, curl replay) or a table of them.

Records are redacted when created (an `Exchange` redacts each field as it is set); the URL, error,
headers and bodies are redacted again here, through the same `core/redact.py`, so that a
hand-made record (any object with these fields) cannot leak a secret into a saved notebook. Part of `html` (which re-exports
these names).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..core.redact import redact_body, redact_headers, redact_text, redact_url
from .page import _code, _esc, _json_pre, _kv, _muted, _size, _table, _wrap

# Trace rows rendered by default; a full ring (1000 exchanges, each with its headers) would
# make a multi-megabyte output cell that the notebook then stores forever.
TRACE_HTML_LIMIT = 200


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
    parts = [f"<pre>{_esc(ex.method)} {_esc(redact_url(ex.url))}</pre>"]
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
                ("error", f'<span class="rx-err rx-wrap">{_esc(redact_text(ex.error))}</span>' if ex.error else None),
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
            f'<span class="rx-wrap">{_esc(redact_url(ex.url))}</span>',
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
