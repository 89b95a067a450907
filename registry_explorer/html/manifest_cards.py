"""HTML cards for what a registry describes: references, descriptors, manifests, indexes, configs.

Part of `html` (which re-exports these names); the models' `_repr_html_` hooks call them.
"""

from __future__ import annotations

from typing import Any

from ..core import mediatypes as mt
from ..core.errors import InvalidManifest
from ..core.units import human_size
from .links import document_commands, in_repo
from .page import (
    _argv,
    _code,
    _digest,
    _esc,
    _kv,
    _link,
    _mapping,
    _media_type,
    _muted,
    _platform,
    _size,
    _table,
    _urls,
    _value,
    _wrap,
)

# ---------------------------------------------------------------------------------------------
# References and descriptors


@in_repo(lambda ref: ref)
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


@in_repo(lambda doc: doc.reference)
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
    parts.append(document_commands(m))
    return _wrap("".join(parts))


@in_repo(lambda doc: doc.reference)
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
    parts.append(document_commands(idx))
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
