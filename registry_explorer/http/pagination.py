"""Paginated lists: tags, the catalog and the referrers API, bounded and kept on one host.

distribution paginates with `Link: <...>; rel="next"` (RFC 8288), relative to the page's URL
(spec: "Listing Tags", "Listing Referrers"). A server controls those links, so:
- a link is followed only on the host the first request went to, before any redirect; a link
  to another host is refused (credentials would otherwise follow it, and so would we);
- a link to a page already read ends the walk: the first page counts (a link back to it is the
  commonest cycle), and a page is known by its host, path and query pairs in any order, so
  `?n=1&last=a` and `?last=a&n=1` are one page;
- a page whose rows were all listed already ends the walk too (a cycle under fresh URLs), and
  no row is listed twice;
- every list has a total bound (limits.py), past which the answer is TooLarge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from ..core import jsontext
from ..core import mediatypes as mt
from ..core.errors import InvalidManifest, NotFound, ProtocolError, RegistryError, TooLarge
from ..core.limits import LIST_BYTES_LIMIT, LIST_ITEMS_LIMIT, MAX_PAGES, PAGE_LIMIT, PAGE_SIZE, REFERRERS_LIMIT
from ..core.models import Index, parse_manifest
from .values import http_url, netloc

# Sends a request for the first page (url=None) or a next link (url=...); returns a Response.
PageFetcher = Callable[["str | None"], Any]


def next_link(header: str | None, current: str) -> str | None:
    """The rel="next" target of a Link header, resolved against the current URL (ProtocolError if malformed)."""
    if not header:
        return None
    for part in header.split(","):
        seg = part.strip()
        if not seg.startswith("<") or ">" not in seg:
            continue
        target, _, params = seg[1:].partition(">")
        rels = [p.strip() for p in params.split(";") if p.strip().lower().startswith("rel=")]
        if any(r.split("=", 1)[1].strip().strip('"').lower() == "next" for r in rels):
            return http_url(target, current, what="pagination Link")
    return None


def page_key(url: str) -> str:
    """Which page a URL names: scheme, host:port, path and the query's pairs in any order; no fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return f"{parts.scheme.lower()}://{netloc(url)}{unquote(parts.path) or '/'}?{query}"


def pages(fetch: PageFetcher, api_host: str, what: str) -> Iterator[tuple[Any, bytes]]:
    """Each page as (response, body bytes), following next links on `api_host` only, within the bounds."""
    url: str | None = None
    seen: set[str] = set()  # every page read, the first included, by page_key
    total = 0
    for _ in range(MAX_PAGES):
        resp = fetch(url)
        link, current = resp.headers.get("Link"), resp.url
        if url is not None and page_key(current) in seen:
            resp.close()
            return  # redirected to a page already read
        seen.update(page_key(u) for u in (url, current) if u)
        body = resp.read_all(PAGE_LIMIT, f"{what} page")
        total += len(body)
        if total > LIST_BYTES_LIMIT:
            raise TooLarge(f"{what} (all pages together)", LIST_BYTES_LIMIT, None)
        yield resp, body
        nxt = next_link(link, current)
        if not nxt:
            return
        if netloc(nxt) != api_host:
            raise RegistryError(f"refusing {what} pagination link to another host: {netloc(nxt)} is not {api_host}")
        if page_key(nxt) in seen:
            return  # a registry that links back to a page it sent would loop forever
        url = nxt
    raise RegistryError(f"{what} has more than {MAX_PAGES} pages")


def fresh_rows(rows: Iterable, known: set, key: Callable[[Any], Any] | None = None) -> list | None:
    """The rows of one page not listed before (each once, by `key` or by themselves), recorded in `known`.

    None when the page had rows and every one was listed already: a cycle through URLs that
    differ, which the caller ends the list on.
    """
    rows = list(rows)
    if key is None:  # names: hashable themselves, and a list may hold a million of them
        out = [r for r in dict.fromkeys(rows) if r not in known]
        known.update(out)
    else:
        out = []
        for r in rows:
            k = key(r)
            if k not in known:
                known.add(k)
                out.append(r)
    return None if rows and not out else out


def json_list(body: bytes, key: str, what: str) -> list:
    """The list under `key` in a JSON page (`"repositories": null`, as ACR sends, is empty)."""
    try:
        doc = jsontext.loads(body)
    except ValueError:
        raise ProtocolError(f"{what} page is not JSON", what=what) from None
    items = doc.get(key) if isinstance(doc, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise ProtocolError(f"{what} page has {key!r} that is not a list", what=what)
    return items


def names(transport, registry: str, path: str, scope: str, key: str, page_size: int) -> list[str]:
    """Every name of a paginated list (`tags` of a repository, `repositories` of the catalog), bounded."""
    if not 0 < page_size <= PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {PAGE_SIZE}")
    purpose = "tags" if key == "tags" else "catalog"

    def fetch(url: str | None):
        return transport.request("GET", registry, path, scope=scope, url=url,
                                 params=None if url else {"n": page_size}, purpose=purpose)

    api_host = transport.base_url(registry).split("://", 1)[1]
    out: list[str] = []
    known: set[str] = set()
    for _resp, body in pages(fetch, api_host, f"{purpose} of {registry}"):
        fresh = fresh_rows([str(x) for x in json_list(body, key, purpose)], known)
        if fresh is None:
            break
        out.extend(fresh)
        if len(out) > LIST_ITEMS_LIMIT:
            raise TooLarge(f"{purpose} of {registry}", LIST_ITEMS_LIMIT, len(out), hint=" (counted in entries)")
    return out


def referrers_api(transport, ref, digest: str) -> bool:
    """One GET of the referrers endpoint: 404 means the registry lacks the API (distribution 2.8)."""
    resp = transport.request("GET", ref.registry, f"/v2/{ref.repository}/referrers/{digest}",
                             scope=f"repository:{ref.repository}:pull", headers={"Accept": mt.OCI_INDEX},
                             purpose="referrers", ok=(404,))
    resp.close()
    return resp.status != 404


def referrers(client, ref, digest: str, artifact_type: str | None) -> list:
    """Descriptors whose subject is `digest`: the referrers API, else the `<alg>-<hex>` tag schema.

    https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-referrers
    """
    params = {"artifactType": artifact_type} if artifact_type else None
    out: list = []
    filtered = False
    missing = False

    def fetch(url: str | None):
        nonlocal missing
        resp = client.transport.request(
            "GET", ref.registry, f"/v2/{ref.repository}/referrers/{digest}", scope=f"repository:{ref.repository}:pull",
            params=None if url else params, url=url, headers={"Accept": mt.OCI_INDEX}, purpose="referrers",
            ok=(404,) if url is None else (),
        )
        if resp.status == 404:
            missing = True
        return resp

    api_host = client.transport.base_url(ref.registry).split("://", 1)[1]
    known: set[str] = set()
    for resp, body in pages(fetch, api_host, f"referrers of {digest}"):
        if missing:
            return _referrers_by_tag(client, ref, digest, artifact_type)
        filtered = filtered or "artifactType" in resp.headers.get("OCI-Filters-Applied", "")
        fresh = fresh_rows(parse_manifest(body, mt.OCI_INDEX).manifests, known, lambda d: d.digest)
        if fresh is None:
            break
        out.extend(fresh)
        if len(out) > REFERRERS_LIMIT:
            raise TooLarge(f"referrers of {digest}", REFERRERS_LIMIT, len(out), hint=" (counted in descriptors)")
    # Registries may ignore the filter; apply it ourselves unless they say they did.
    if artifact_type and not filtered:
        out = [d for d in out if d.artifact_type == artifact_type]
    return out


def _referrers_by_tag(client, ref, digest: str, artifact_type: str | None) -> list:
    """The referrers tag schema: an index tagged `<alg>-<hex>` that pushing clients (oras, regctl) keep."""
    tag = digest.replace(":", "-", 1)
    try:
        doc = client.manifest(ref.with_tag(tag))
    except NotFound:
        return []
    if not isinstance(doc, Index):
        raise InvalidManifest(f"referrers fallback tag {tag} in {ref.name} is not an index")
    out = doc.manifests
    return [d for d in out if d.artifact_type == artifact_type] if artifact_type else out
