"""HTML cards for decoded supply-chain documents; every string escaped, digests with their full value in a title.

Uses the same scoped style and helpers as the other views (html.page), so a saved notebook shows
them without JavaScript.
"""

from __future__ import annotations

from typing import Any

from ..html.page import _code, _digest, _esc, _kv, _muted, _table, _value, _wrap

__all__ = ["frame_html", "provenance_html", "sbom_html", "statement_html"]

# Rows shown in a card; the DataFrame (`.frame()`) has them all.
HTML_ROWS = 200


def _rows_table(df: Any) -> str:
    if df is None or len(df) == 0:
        return _muted("none")
    cols = list(df.columns)
    rows = []
    for rec in df.head(HTML_ROWS).to_dict("records"):
        rows.append([_digest(v) if c.endswith("digest") and isinstance(v, str) and ":" in v else _value(v)
                     for c, v in ((c, rec[c]) for c in cols)])
    more = f"<p>{_muted(f'{len(df) - HTML_ROWS} more rows in .frame()')}</p>" if len(df) > HTML_ROWS else ""
    return _table(cols, rows) + more


def frame_html(title: str, df: Any) -> str:
    """A titled table of a decoded document's rows."""
    return _wrap(f"<h4>{_esc(title)} ({len(df)})</h4>" + _rows_table(df))


def statement_html(st: Any) -> str:
    """An in-toto statement: type, predicate type, envelope, subjects."""
    env = st.envelope
    head = _kv([("_type", _code(st.type)), ("predicateType", _code(st.predicate_type)),
                ("DSSE", f"payloadType {_code(env.payload_type)}, {len(env.signatures)} signature(s)" if env else None)])
    return _wrap("<h4>in-toto statement</h4>" + head + "<h4>subjects</h4>" + _rows_table(st.frame()))


def provenance_html(p: Any) -> str:
    """SLSA provenance: builder, build type, parameters and materials."""
    head = _kv([("SLSA", _code(p.version)), ("builder.id", _value(p.builder_id)), ("buildType", _value(p.build_type))])
    return _wrap("<h4>SLSA provenance</h4>" + head + "<h4>parameters</h4>" + _rows_table(p.parameters_frame())
                 + "<h4>materials</h4>" + _rows_table(p.frame()))


def sbom_html(s: Any) -> str:
    """An SBOM: format, version, packages and relationships."""
    head = _kv([("format", _code(s.format)), ("version", _code(s.spec_version)), ("name", _value(s.name)),
                ("predicateType", _code(s.predicate_type) if s.predicate_type else None)])
    return _wrap(f"<h4>SBOM</h4>{head}<h4>packages ({len(s.packages)})</h4>{_rows_table(s.frame())}"
                 f"<h4>relationships ({len(s.relationships)})</h4>{_rows_table(s.relationships_frame())}")
