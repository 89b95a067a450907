"""HTML fragments for the Explorer's panes, built from ExplorerState values. Pure: strings in, HTML out.

Everything a registry sends is escaped (see html.py); the fragments share html.py's scoped
stylesheet (`_wrap`) so the widget looks like the rest of the library's rich output.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

import pandas as pd

from ...core.units import human_size
from ...html import descriptor_html, index_html, short_digest
from ...html.links import replay_context
from ...html.page import _wrap
from ..labels import exchange_note, http_hosts, plural

# A spinner in pure CSS: no icon font or CDN needed, so it works offline.
SPINNER = (
    "<style>@keyframes rx-spin{to{transform:rotate(360deg)}}"
    ".rx-spinner{display:inline-block;width:11px;height:11px;margin-right:6px;vertical-align:-1px;"
    "border:2px solid rgba(127,127,127,.3);border-top-color:#1a73e8;border-radius:50%;"
    "animation:rx-spin .8s linear infinite}</style><span class=\"rx-spinner\"></span>"
)
# The browser keeps a whole table in the DOM; the latest rows are what a learner looks at.
TRACE_ROWS = 100


def esc(value: Any) -> str:
    """HTML-escape anything (None -> '')."""
    return escape("" if value is None else str(value), quote=True)


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _muted(text: str) -> str:
    return f'<span class="rx-muted">{esc(text)}</span>'


def _missing(v: Any) -> bool:
    """None, NaN or NaT: how pandas fills a cell it has no value for (in object and numeric columns)."""
    return v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _value(v: Any) -> str:
    """A table cell value; pandas' missing values (None, NaN, NaT) show as empty."""
    return "" if _missing(v) else esc(v)


def status_html(status: str, busy: bool, error: str = "") -> str:
    """The status line, with a spinner while busy; empty when it would repeat the error box."""
    if error and status == error and not busy:
        return ""  # the error box says it; the same sentence twice reads like two problems
    return f"{SPINNER if busy else ''}<span>{esc(status)}</span>"


def size_span(n: Any, human: str) -> str:
    """A size that never wraps ('401 B' on one line); its exact byte count on hover."""
    return f'<span class="rx-size" style="white-space:nowrap" title="{esc(n)} bytes">{esc(human)}</span>'


def error_html(error: str) -> str:
    """The error box: one sentence in red, or nothing."""
    if not error:
        return ""
    return ('<div style="color:#cf222e;border:1px solid #cf222e;border-radius:4px;padding:4px 8px;'
            f'background:rgba(207,34,46,.06);white-space:pre-wrap">{esc(error)}</div>')


def descriptor_card(descriptor, index, subject, replay=None) -> str:
    """The resolved descriptor (with the platform table for an index) and the subject, if any.

    `replay` (widgets/runnable.py) is how the card's commands authenticate, as the Explorer's client did.
    """
    if descriptor is None:
        return ""
    with replay_context(replay):
        card = index_html(index) if index is not None else descriptor_html(descriptor)
    if subject is not None:
        card += _wrap("<h4>Refers to (subject)</h4>") + descriptor_html(subject)
    return card


def layers_table(df) -> str:
    """The layers frame as a table: index, digest, media type, compression, size, created_by."""
    if df is None:
        return ""
    if len(df) == 0:
        return _wrap(_muted("no layers"))
    rows = []
    for r in df.to_dict("records"):
        rows.append([
            esc(r["index"]), f'<code title="{esc(r["digest"])}">{esc(short_digest(r["digest"]))}</code>',
            f"<code>{esc(r['media_type'])}</code>", esc(r["compression"]),
            size_span(r["size"], r["size_human"]),
            f'<code class="rx-wrap">{_value(r.get("created_by"))}</code>',
        ])
    known = [int(s) for s in df["size"] if s >= 0]
    total = f" — {human_size(sum(known))} compressed" if len(known) == len(df) else ""
    head = f"<h4>{plural(len(df), 'layer')}{esc(total)}</h4>"
    return _wrap(head + _table(["#", "digest", "media type", "compression", "size", "created by"], rows))


def _argv(argv) -> str | None:
    return None if argv is None else f"<code>{esc(json.dumps(argv, ensure_ascii=False))}</code>"


def config_pane(config) -> str:
    """Env, entrypoint, cmd, workdir, user, exposed ports and labels of an image config."""
    if config is None:
        return _wrap(_muted("No image config: this manifest is an artifact or a schema1 image."))
    pairs = [
        ("platform", f"<code>{esc(config.platform)}</code>" if config.platform else None),
        ("entrypoint", _argv(config.entrypoint)),
        ("cmd", _argv(config.cmd)),
        ("working dir", f"<code>{esc(config.working_dir)}</code>" if config.working_dir else None),
        ("user", f"<code>{esc(config.user)}</code>" if config.user else None),
        ("exposed ports", ", ".join(f"<code>{esc(p)}</code>" for p in config.exposed_ports) or None),
        ("volumes", ", ".join(f"<code>{esc(v)}</code>" for v in config.volumes) or None),
        ("env", "<br>".join(f'<code class="rx-wrap">{esc(e)}</code>' for e in config.env) or None),
    ]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs if v is not None)
    out = f'<h4>Image config</h4><table class="rx-kv"><tbody>{body}</tbody></table>'
    labels = config.labels
    if labels:
        rows = [[f"<code>{esc(k)}</code>", f'<span class="rx-wrap">{esc(v)}</span>'] for k, v in sorted(labels.items())]
        out += "<h4>labels</h4>" + _table(["label", "value"], rows)
    return _wrap(out)


def history_table(df) -> str:
    """The build history frame: created, created_by, empty_layer and the layer each entry made."""
    if df is None:
        return _wrap(_muted("No build history: this manifest has no image config."))
    rows = []
    for i, r in enumerate(df.to_dict("records")):
        layer = r.get("layer_digest")
        rows.append([
            esc(i), _value(r.get("created")), f'<code class="rx-wrap">{_value(r.get("created_by"))}</code>',
            _muted("empty layer") if r.get("empty_layer") else (
                f"<code>{esc(short_digest(layer))}</code>" if isinstance(layer, str) else ""),
            _value(r.get("comment")),
        ])
    return _wrap(f"<h4>{plural(len(rows), 'history entry')}</h4>"
                 + _table(["#", "created", "created by", "layer", "comment"], rows))


def fetched_list(paths: list[str], source: str = "") -> str:
    """The verified files of the last fetch, full paths, and the image they came from (`repo@digest`)."""
    if not paths:
        return ""
    items = "".join(f"<li><code>{esc(p)}</code> <span class=\"rx-badge rx-ok\">verified</span></li>" for p in paths)
    repo, _, digest = source.rpartition("@")
    origin = f" from <code title=\"{esc(source)}\">{esc(repo)}@{esc(short_digest(digest))}</code>" if repo else ""
    return _wrap(f"<h4>{plural(len(paths), 'verified file')}{origin}</h4><ul>{items}</ul>")


def trace_table(df) -> str:
    """The latest TRACE_ROWS exchanges of the trace frame."""
    if df is None or len(df) == 0:
        return _wrap(_muted("No HTTP exchanges yet."))
    shown = df.tail(TRACE_ROWS)
    plain = http_hosts(df.to_dict("records"))
    rows = []
    for r in shown.to_dict("records"):
        status = r.get("status")
        ok = isinstance(status, (int, float)) and not _missing(status)
        failed = bool(_value(r.get("error")))  # missing values come back as NaN, which is truthy
        cls = "rx-err" if failed or (ok and status >= 400) else "rx-ok" if ok and status < 300 else "rx-redir"
        note = exchange_note(r, plain)
        if note:  # an expected failure (the https probe, the referrers fallback): said so, not in red
            cell = f'<span class="rx-muted rx-expected" title="{_value(r.get("error"))}">{esc(note)}</span>'
        else:
            cell = f'<span class="{cls}">{esc(int(status)) if ok else _value(r.get("error")) or "—"}</span>'
        size = r.get("bytes")
        rows.append([
            esc(r["seq"]), esc(r["method"]), cell,
            esc(r["purpose"]), f'<span class="rx-wrap">{esc(r["url"])}</span>',
            size_span(int(size), human_size(int(size))) if isinstance(size, (int, float)) and size == size else "",
            f"{r['elapsed_ms']:.1f}" if isinstance(r.get("elapsed_ms"), float) and r["elapsed_ms"] == r["elapsed_ms"]
            else "",
            _value(r.get("auth")),
        ])
    note = f"latest {len(shown)} of {len(df)}" if len(shown) < len(df) else str(len(df))
    return _wrap(f"<h4>HTTP exchanges ({esc(note)})</h4>"
                 + _table(["seq", "method", "status", "purpose", "url", "bytes", "ms", "auth"], rows))


def file_info_html(info: dict) -> str:
    """The chosen file: path, type, size, mode, layer, a note, and the text content if small."""
    if not info:
        return ""
    pairs = [
        ("path", f"<code>/{esc(info.get('path'))}</code>"),
        ("type", esc(info.get("type"))),
        ("size", f"{size_span(info.get('size'), human_size(info.get('size')))} ({esc(info.get('size'))} bytes)"
         if isinstance(info.get("size"), int) else None),
        ("mode", f"<code>{info['mode']:04o}</code>" if isinstance(info.get("mode"), int) else None),
        ("link to", f"<code>{esc(info.get('linkname'))}</code>" if info.get("linkname") else None),
        ("layer", f"{esc(info.get('layer_index'))} <code>{esc(short_digest(info.get('layer_digest')))}</code>"
         if info.get("layer_digest") else None),
        ("what happened", f'<span class="rx-change">{esc(info["change"])} in this view</span>'
         if info.get("change") else None),
        ("verified by", f'<span class="rx-verification">{esc(info.get("verified_by") or info["verification"])} '
                        f'<span class="rx-muted">({esc(info["verification"])})</span></span>'
         if info.get("verification") else None),
        ("moved", f'<span class="rx-bytes-moved">{esc(human_size(info["bytes_moved"]))} in '
                  f'{esc(plural(info.get("requests", 0), "request"))}</span>'
                  + (f'<br><span class="rx-cost-note">{esc(info["cost_note"])}</span>' if info.get("cost_note") else "")
         if isinstance(info.get("bytes_moved"), int) else None),
    ]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs if v is not None)
    out = f'<table class="rx-kv"><tbody>{body}</tbody></table>'
    if info.get("note"):
        out += f"<p>{esc(info['note'])}</p>"
    if info.get("content") is not None:
        out += f'<pre class="rx-text">{esc(info["content"])}</pre>'
    if info.get("hex"):
        out += f'<pre class="rx-hex" style="white-space:pre">{esc(info["hex"])}</pre>'
    return _wrap(out)


def offline_html(state) -> str:
    """What a saved notebook shows for the Explorer before its kernel runs: the image it showed.

    A notebook opened without running it (`make demo`, or GitHub's viewer) has no widget state
    (build.py drops it), so it shows this instead of `Explorer(children=(HBox(...`. It is also
    shown in an untrusted notebook, where the stylesheet is stripped: only inline styles, and no
    element that the stylesheet would have hidden.
    """
    cell = 'style="border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top"'
    nowrap = 'style="border:1px solid #ccc;padding:2px 6px;text-align:left;white-space:nowrap"'
    head = "<b>registry-explorer Explorer</b> (run the notebook to browse interactively)"
    if state.descriptor is None:
        return f"<div>{head}<br>{esc(state.error or state.status)}</div>"
    d = state.descriptor
    pairs = [("reference", f"<code>{esc(state.ref)}</code>"), ("media type", f"<code>{esc(d.media_type)}</code>"),
             ("digest", f"<code>{esc(d.digest)}</code>"),
             ("size", size_span(d.size, human_size(d.size) or "unknown"))]
    if state.platform:
        pairs.append(("platform shown", esc(state.platform)))
    rows = "".join(f"<tr><th {nowrap}>{esc(k)}</th><td {cell}>{v}</td></tr>" for k, v in pairs)
    out = f'<div>{head}<table style="border-collapse:collapse;margin:.3em 0">{rows}</table>'
    if state.layers is not None and len(state.layers):
        lrows = "".join(
            f"<tr><td {cell}>{esc(r['index'])}</td><td {cell}><code>{esc(r['digest'])}</code></td>"
            f"<td {nowrap}>{size_span(r['size'], r['size_human'])}</td></tr>"
            for r in state.layers.to_dict("records"))
        out += (f"{plural(len(state.layers), 'layer')}:"
                f'<table style="border-collapse:collapse;margin:.3em 0">{lrows}</table>')
    return out + f"<div>{esc(state.status)}</div></div>"


def offline_text(state) -> str:
    """The Explorer in one line of text: the plain-text fallback of a saved notebook."""
    if state.descriptor is None:
        return f"Explorer: {state.error or state.status}"
    return f"Explorer: {state.status}"
