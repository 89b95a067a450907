"""Where a source keeps its layer indexes (peek/indexes.py), when two indexes could answer for one layer.

Two of a kind: one layer with both a verified index (built in a full verified pass) and a TOC index
(vouched for by one manifest's annotation); one index dropped after a ranged read through it
failed its digests, in memory and on disk. Written against mutations of peek/indexes.py that
the suite let through (scripts/mutations.toml: trust-weakest-chain-first, trust-forget-leaves-disk-entry).
"""

from __future__ import annotations

import pytest

import registry_explorer as rx
from registry_explorer.core.models import Descriptor
from registry_explorer.peek import trust
from registry_explorer.peek.index import LayerIndex
from registry_explorer.peek.indexes import LayerIndexes

GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER = "sha256:" + "a" * 64
TOC = "sha256:" + "c" * 64


def _desc(**annotations) -> Descriptor:
    return Descriptor(GZ, LAYER, 100, annotations)


def _index(chain: str, anchor: str = "") -> LayerIndex:
    kind = {"verified-index": "stream-only", "estargz-toc": "estargz-toc"}[chain]
    return LayerIndex(layer_digest=LAYER, layer_size=100, media_type=GZ, kind=kind, chain=chain, anchor=anchor)


@pytest.mark.parametrize("order", ["toc-first", "verified-first"])
def test_with_both_a_verified_and_a_toc_index_the_verified_one_answers(order):
    """trust.py: a layer-digest index is preferred when both exist (the registry's own content address)."""
    store = LayerIndexes()
    both = [_index("estargz-toc", TOC), _index("verified-index")]
    for idx in both if order == "toc-first" else both[::-1]:
        store.remember(idx)
    named = _desc(**{trust.ESTARGZ_TOC_ANNOTATION: TOC})
    assert [c.name for c in trust.chains_for(named)] == ["verified-index", "estargz-toc"]
    assert store.find(named).chain == "verified-index"
    assert store.find(_desc()).chain == "verified-index"


def test_forget_drops_the_index_from_memory_and_from_the_disk_cache(tmp_path):
    """After a ranged read failed its digests, neither this source nor a later process may use that index."""
    cache = rx.Cache(tmp_path)
    LayerIndexes(cache).remember(_index("verified-index"))
    assert LayerIndexes(cache).find(_desc()).chain == "verified-index", "control: a later process finds it on disk"
    store = LayerIndexes(cache)
    assert store.find(_desc()) is not None
    store.forget(_desc())
    assert store.find(_desc()) is None, "gone from this source"
    assert LayerIndexes(cache).find(_desc()) is None, "gone from the disk cache"
