"""Which derived data may vouch for which bytes: the chains of trust behind every read of a file.

Derived data (a layer index, a TOC, a cache entry) carries the chain of trust it was built under
and is used only where that same chain holds. A layer digest vouches for a whole blob; an eStargz
or zstd:chunked TOC digest is vouched for by *one manifest's* annotation, never by the layer
digest, so an index built from a TOC is keyed by (layer digest, TOC digest) and a manifest that
names no TOC digest, or another one, never uses it (security issue 21: a forged TOC published
under a popular layer's digest must not answer for the genuine image).

=========================  ==========================================  ============================  =========================================
chain (`.verification`)    what vouched for the bytes                  key of the derived data        used for a layer descriptor that ...
=========================  ==========================================  ============================  =========================================
``layer-digest``           the whole layer streamed and its sha256     (nothing derived)              ... any descriptor: the bytes are read now
                           matched the manifest's layer digest
``verified-index``         compressed blocks fetched by Range, each    layer digest + size            ... names that layer digest and size
                           matching a block digest recorded during                                    (whatever its annotations say)
                           a full pass whose layer digest matched
``estargz-toc``            the file's (and each chunk's) digest in     layer digest + size +           ... names that digest and size AND the same
                           the eStargz TOC, whose sha256 matched the   TOC digest                     ``containerd.io/snapshot/stargz/toc.digest``
                           manifest's TOC digest annotation
``zstd-chunked-toc``       the file's (and each chunk's) digest in     layer digest + size +           ... names that digest and size AND the same
                           the zstd:chunked TOC, whose sha256 matched  manifest checksum              ``io.github.containers.zstd-chunked.manifest-checksum``
                           the manifest's checksum annotation                                          (or the older ``io.containers.`` one)
=========================  ==========================================  ============================  =========================================

A layer-digest index is preferred when both exist: its chain is the stronger one (the registry's
own content address) and it serves every manifest that names the layer. Documents fetched by
digest from the on-disk cache are re-hashed on every read (content addressing); they are valid
content, but not the registry's answer, so the trace records them as cache hits.

The cache directory itself is a trust boundary (`sources/cache.py`): a verified-index entry
cannot be re-checked without the whole layer, so the directory must be private to the user.
TOC entries store the TOC bytes and are re-hashed against the key on every load.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.models import Descriptor

__all__ = ["CHAINS", "ESTARGZ_TOC", "EXPLAIN", "LAYER_DIGEST", "VERIFIED_INDEX", "ZSTD_CHUNKED_TOC", "Chain",
           "chains_for", "estargz_toc_digest", "zstd_chunked_position", "zstd_chunked_checksum"]

LAYER_DIGEST = "layer-digest"
VERIFIED_INDEX = "verified-index"
ESTARGZ_TOC = "estargz-toc"
ZSTD_CHUNKED_TOC = "zstd-chunked-toc"
CHAINS = (LAYER_DIGEST, VERIFIED_INDEX, ESTARGZ_TOC, ZSTD_CHUNKED_TOC)

# One sentence per chain, for a student reading a preview or a trace ("verified: X" says nothing alone).
EXPLAIN = {
    LAYER_DIGEST: "the whole layer was streamed and its sha256 matched the layer digest in the manifest",
    VERIFIED_INDEX: "each compressed block read by Range matched a digest recorded while the whole layer was "
                    "verified against its digest once",
    ESTARGZ_TOC: "the file matched its digest in the layer's eStargz table of contents, which matched the TOC "
                 "digest the manifest names",
    ZSTD_CHUNKED_TOC: "the file matched its digest in the layer's zstd:chunked table of contents, which matched "
                      "the checksum the manifest names",
}

# stargz-snapshotter docs/estargz.md: the layer annotation holding the sha256 of the TOC JSON.
ESTARGZ_TOC_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest"
# containers/storage pkg/chunked (compressor.go): where the TOC is and its checksum; older writers
# (before containers/storage 1.39) used the `io.containers.` prefix for the same keys.
_ZSTD_PREFIXES = ("io.github.containers.zstd-chunked.", "io.containers.zstd-chunked.")


@dataclass(frozen=True)
class Chain:
    """One chain of trust for one layer: its `name` (a `.verification` label) and the key its data is kept under."""

    name: str
    layer_digest: str
    layer_size: int
    anchor: str = ""  # the TOC digest / manifest checksum a TOC chain also needs ("" for layer-digest chains)

    @property
    def key(self) -> str:
        """A stable text key: what memory and disk caches file the derived data under."""
        return f"{self.name} {self.layer_digest} {self.layer_size} {self.anchor}".rstrip()


def _annotation(desc: Descriptor, suffix: str) -> str:
    notes = desc.annotations or {}
    for prefix in _ZSTD_PREFIXES:
        value = notes.get(prefix + suffix)
        if isinstance(value, str) and value:
            return value
    return ""


def estargz_toc_digest(desc: Descriptor) -> str:
    """The eStargz TOC digest a layer descriptor names, or ''."""
    value = (desc.annotations or {}).get(ESTARGZ_TOC_ANNOTATION)
    return value if isinstance(value, str) else ""


def zstd_chunked_checksum(desc: Descriptor) -> str:
    """The zstd:chunked manifest (TOC) checksum a layer descriptor names, or ''."""
    return _annotation(desc, "manifest-checksum")


def zstd_chunked_position(desc: Descriptor) -> str:
    """The zstd:chunked `manifest-position` annotation (offset:length:uncompressed length:type), or ''."""
    return _annotation(desc, "manifest-position")


def chains_for(desc: Descriptor) -> list[Chain]:
    """The chains under which derived data may serve `desc`, strongest first (see the table above)."""
    out = [Chain(VERIFIED_INDEX, desc.digest, desc.size)]
    toc = estargz_toc_digest(desc)
    if toc:
        out.append(Chain(ESTARGZ_TOC, desc.digest, desc.size, toc))
    checksum = zstd_chunked_checksum(desc)
    if checksum and zstd_chunked_position(desc):
        out.append(Chain(ZSTD_CHUNKED_TOC, desc.digest, desc.size, checksum))
    return out
