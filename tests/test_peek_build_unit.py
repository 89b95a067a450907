"""The index builder's bounds and block digests (issue 12), without a registry."""

from __future__ import annotations

import io

import pytest
import zstandard

import registry_explorer as rx
from registry_explorer.peek.build import _zstd_frames
from registry_explorer.peek.index import BLOCK, LayerIndex
from registry_explorer.peek.stored import decode, encode


def test_zstd_frames_found_per_frame():
    frames = [zstandard.ZstdCompressor().compress(bytes([i]) * (70_000 + i)) for i in range(3)]
    got = _zstd_frames(io.BytesIO(b"".join(frames)), "layer x")
    offs = [0, len(frames[0]), len(frames[0]) + len(frames[1])]
    assert got == [(offs[i], len(frames[i]), sum(70_000 + j for j in range(i))) for i in range(3)]


def test_zstd_bomb_frame_is_refused_with_a_named_limit():
    """A frame that inflates past MAX_ZSTD_FRAME_BYTES raises TooLarge, without inflating it all at once."""
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (64 << 20))  # ~2 KiB -> 64 MiB
    assert len(bomb) < 64 << 10
    with pytest.raises(rx.TooLarge, match="MAX_ZSTD_FRAME_BYTES"):
        _zstd_frames(io.BytesIO(bomb), "layer x", max_frame_bytes=8 << 20)


def test_truncated_zstd_is_invalid():
    frame = zstandard.ZstdCompressor().compress(b"x" * 100_000)
    with pytest.raises(rx.InvalidManifest, match="truncated"):
        _zstd_frames(io.BytesIO(frame[:-5]), "layer x")


def test_stored_index_without_its_block_digests_is_refused():
    idx = LayerIndex(layer_digest="sha256:" + "a" * 64, layer_size=3 * BLOCK + 1, media_type="x",
                     kind="gzip-checkpoints", chain="verified-index", seek_points=[(0, 0)],
                     blocks=[b"\1" * 32] * 4)
    again = decode(encode(idx)[0], layer_digest=idx.layer_digest)
    assert again.blocks == idx.blocks and again.check_block(0, b"") is False
    idx.blocks = idx.blocks[:3]
    with pytest.raises(rx.InvalidManifest, match="block digests"):
        decode(encode(idx)[0], layer_digest=idx.layer_digest)
