"""Rich HTML views for Jupyter: references, descriptors, manifests, indexes, configs and the HTTP trace.

Plain HTML with one small inline <style> scoped under the `rx` class: no JavaScript, no
widgets, no network, so the output survives being saved in a notebook and re-opened anywhere.
Everything a registry sends (annotations, labels, history, headers, even media types and
digests) is hostile until escaped, so every string goes through `_esc` on its way out, and
only http(s) URLs ever become links.

Split by object kind: html.page (style and escaping helpers), html.manifest_cards (references,
descriptors, manifests, indexes, configs) and html.exchanges (the HTTP trace). This module is the
public face: every name below is importable as `registry_explorer.html.X`.
"""

from __future__ import annotations

from ..core.units import human_size
from .exchanges import TRACE_HTML_LIMIT, exchange_html, trace_html
from .manifest_cards import config_html, descriptor_html, index_html, manifest_html, reference_html
from .page import DOCKER_SPEC, OCI_SPEC, short_digest, spec_url

# human_size lives in units.py (shared with frames); re-exported here as part of this module's API.
__all__ = [
    "DOCKER_SPEC", "OCI_SPEC", "TRACE_HTML_LIMIT", "config_html", "descriptor_html", "exchange_html", "human_size",
    "index_html", "manifest_html", "reference_html", "short_digest", "spec_url", "trace_html",
]
