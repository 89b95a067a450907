"""Short human labels shared by the Explorer's state and view: platforms, blobs, document kinds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from ..core import mediatypes as mt
from ..core.models import Descriptor
from ..core.platform import DEFAULT_PLATFORM, select
from ..core.units import human_size
from ..html import short_digest

# Where BuildKit says which image an attestation manifest describes.
ATTESTATION_TARGET = "vnd.docker.reference.digest"


def digest12(digest: str | None) -> str:
    """'sha256:' plus the first 12 hex digits, without an ellipsis (fixed width in option lists)."""
    algo, sep, hexpart = (digest or "").partition(":")
    return f"{algo}:{hexpart[:12]}" if sep else (digest or "")


def kind(media_type: str | None) -> str:
    """'OCI image index', 'Docker image manifest', ... for a manifest media type."""
    m = mt.base(media_type)
    if mt.is_schema1(m):
        return "Docker schema1 manifest (deprecated)"
    family = "Docker" if mt.is_docker(m) else "OCI"
    if mt.is_index(m):
        return "Docker manifest list" if family == "Docker" else "OCI image index"
    if mt.is_manifest(m):
        return f"{family} image manifest"
    return m or "document of unknown type"


def a_kind(media_type: str | None) -> str:
    """kind() with its article: 'an OCI image index', 'a Docker manifest list'."""
    k = kind(media_type)
    return f"{'an' if k[:1] in 'AEIOU' else 'a'} {k}"


def platform_label(desc: Descriptor) -> str:
    """'linux/arm/v7', or 'unknown/unknown (attestation for sha256:abc…)' for attestation entries."""
    base = str(desc.platform) if desc.platform is not None else f"no platform {short_digest(desc.digest)}"
    if not desc.is_attestation:
        return base
    target = desc.annotations.get(ATTESTATION_TARGET)
    return f"{base} (attestation for {short_digest(target)})" if target else f"{base} (attestation)"


def platform_entries(children: Sequence[Descriptor]) -> list[tuple[str, Descriptor]]:
    """(label, descriptor) per index child, labels made unique (Windows indexes repeat os/arch)."""
    out: list[tuple[str, Descriptor]] = []
    seen: set[str] = set()
    for d in children:
        label = platform_label(d)
        if label in seen:
            label = f"{label} [{digest12(d.digest)}]"
        seen.add(label)
        out.append((label, d))
    return out


def default_platform(entries: Sequence[tuple[str, Descriptor]]) -> str | None:
    """linux/amd64 if present, else the first entry that is not an attestation; never an attestation."""
    descs = [d for _, d in entries]
    hits = select(DEFAULT_PLATFORM, descs)
    if hits:
        return entries[hits[0]][0]
    return next((label for label, d in entries if not d.is_attestation), None)


def layer_label(index: int, desc: Descriptor) -> str:
    """'0  sha256:abcdef012345  1.2 MiB': the option text of a layer in the fetch list."""
    return f"{index}  {digest12(desc.digest)}  {human_size(desc.size) or 'size unknown'}"


def config_label(desc: Descriptor) -> str:
    """'config  sha256:abcdef012345  1.5 KiB': the option text of the config blob."""
    return f"config  {digest12(desc.digest)}  {human_size(desc.size) or 'size unknown'}"


# Words whose plural is not "+s" or "y -> ies": listed, so no label ever says "2 entrys".
_IRREGULAR = {"was": "were", "is": "are", "has": "have"}


def plural_word(n: int, word: str) -> str:
    """`word` agreeing with `n`: 'layer'/'layers', 'entry'/'entries', 'history entry'/'history entries'."""
    if n == 1:
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def plural(n: int, word: str) -> str:
    """'1 layer', '3 layers', '1 entry', '2 entries': the one helper every count in the Explorer uses."""
    return f"{n} {plural_word(n, word)}"


# A manifest GET by the referrers tag schema's tag, `<alg>-<hex>` (distribution-spec, "Referrers
# Tag Schema"): the fallback for registries without the referrers API.
_REFERRERS_TAG = re.compile(r"/manifests/[a-z0-9]+-[0-9a-f]{32,}$")


def exchange_note(row: dict, http_hosts: set[str]) -> str | None:
    """What an expected failure was, for trace rows that look like errors but are not.

    `http_hosts`: the hosts later spoken to over plain http. Two kinds, both normal:
    - the https probe (purpose 'ping') of a registry that only speaks http: the TLS error is how
      the client learns to use http (loopback and insecure= hosts only);
    - the 404s of the referrers fallback: no referrers API, then no `sha256-<hex>` tag (nothing
      refers to the image).
    None for every other row: its status or error is shown as it is.
    """
    url = str(row.get("url") or "")
    parts = urlsplit(url)
    status = row.get("status")
    if row.get("purpose") == "ping" and parts.scheme == "https" and row.get("error") and parts.netloc in http_hosts:
        return "https probe: no TLS on this port, so the client uses plain http (expected)"
    if status == 404 and row.get("purpose") == "referrers":
        return "404: no referrers API here; trying the referrers tag instead (expected)"
    if status == 404 and _REFERRERS_TAG.search(parts.path):
        return "404: no referrers tag, so nothing refers to this image (expected)"
    return None


def http_hosts(rows) -> set[str]:
    """The hosts of the trace rows sent over plain http (for exchange_note)."""
    out = set()
    for r in rows:
        parts = urlsplit(str(r.get("url") or ""))
        if parts.scheme == "http":
            out.add(parts.netloc)
    return out


def read_cost_note(how: dict, size: int) -> str:
    """Why a preview moved what it moved: a layer is read in spans, not file by file.

    `how` is read_preview's dict (verification, requests, bytes_moved). A 124-byte file can move
    200 KiB: a gzip stream can only be entered where decompression can restart (a seek point, one
    per MiB or so of the uncompressed stream), so a ranged read fetches the compressed span from the
    point before the file to the one after it and checks each block against the verified pass.
    """
    moved, chain = how.get("bytes_moved"), how.get("verification")
    if not isinstance(moved, int):
        return ""
    if moved == 0:
        return "Nothing moved: the bytes came from memory (the listing had just read this layer)."
    if chain == "layer-digest":
        return ("The whole layer was streamed once, to check its digest; that pass also indexed it, so the "
                "next read of any file in this layer moves only a span of it.")
    if chain == "verified-index":
        return (f"Not just the file's {human_size(size)}: a compressed stream can only be entered at a seek point "
                "(about one per MiB of the uncompressed layer), so the read fetched the compressed span between "
                "the seek points around the file, and checked every block of it.")
    if chain in ("estargz-toc", "zstd-chunked-toc"):
        return ("The file's own compressed chunk (and, on a first read, the layer's table of contents): this "
                "layer format lets a reader start at each file.")
    return ""
