"""queries (fetching through a Source, rows out) and the pure frames they feed, with a fake Source (no network)."""

from __future__ import annotations

import pandas as pd
import pytest

import registry_explorer as rx
from registry_explorer import frames, queries
from registry_explorer.core.errors import InvalidManifest, NotFound


class FakeSource:
    """Just enough of the Source protocol for tag_rows: tags, resolve and parse."""

    workers = 2

    def __init__(self, digests: dict[str, str | None]):
        self.digests = digests  # tag -> digest, or None for a tag whose HEAD fails
        self.resolved: list[str] = []

    def parse(self, text):
        return rx.parse_reference(text)

    def tags(self, ref):
        return list(self.digests)

    def resolve(self, ref):
        self.resolved.append(ref.tag)
        digest = self.digests[ref.tag]
        if digest is None:
            raise NotFound(f"{ref}: manifest unknown", status=404)
        return rx.Descriptor(rx.mediatypes.OCI_MANIFEST, digest, 123)


def test_tag_rows_heads_every_tag_and_keeps_failed_ones():
    src = FakeSource({"v1": "sha256:" + "a" * 64, "gone": None, "v2": "sha256:" + "b" * 64})
    rows = queries.tag_rows(src, "example.com/team/app", workers=3)
    assert sorted(src.resolved) == ["gone", "v1", "v2"]
    by_tag = {r["tag"]: r for r in rows}
    assert by_tag["v1"]["digest"] == "sha256:" + "a" * 64 and by_tag["v1"]["size"] == 123
    assert by_tag["gone"] == {"tag": "gone", "digest": None, "media_type": None, "size": None}
    df = frames.tags_frame(rows)
    assert list(df.columns) == frames.manifests.TAG_COLUMNS
    assert str(df["size"].dtype) == "Int64" and pd.isna(df.loc[df["tag"] == "gone", "size"]).all()
    # The convenience is exactly the pure frame over the query's rows.
    pd.testing.assert_frame_equal(frames.tags(src, "example.com/team/app"), df)


def test_empty_tag_list_gives_an_empty_frame_with_the_columns():
    df = frames.tags(FakeSource({}), "example.com/team/app")
    assert df.empty and list(df.columns) == frames.manifests.TAG_COLUMNS


def test_image_layers_refuses_an_artifact_before_downloading():
    class ArtifactSource(FakeSource):
        def image(self, ref, platform=None):
            layer = rx.Descriptor("application/spdx+json", "sha256:" + "c" * 64, 10)
            return type("M", (), {"reference": None, "layers": [layer]})()

        def open_blob(self, ref, descriptor):  # pragma: no cover - must not be reached
            raise AssertionError("downloaded a blob that is not a layer")

    with pytest.raises(InvalidManifest, match="not a filesystem layer"):
        queries.image_layers(ArtifactSource({}), "example.com/team/app:sbom")


def test_old_pure_names_are_the_new_ones():
    assert frames.entries_frame is frames.files_frame
    assert frames.merged_frame is frames.image_files_frame
    assert frames.compare_images is frames.compare_frame
    assert frames.manifests.TAG_WORKERS == queries.TAG_WORKERS


def test_referrers_frame_reads_the_created_annotation():
    d = rx.Descriptor(rx.mediatypes.OCI_MANIFEST, "sha256:" + "d" * 64, 7, artifact_type="application/spdx+json",
                      annotations={"org.opencontainers.image.created": "2024-05-01T10:00:00Z"})
    bad = rx.Descriptor(rx.mediatypes.OCI_MANIFEST, "sha256:" + "e" * 64, 8,
                        annotations={"org.opencontainers.image.created": "not a date"})
    df = frames.referrers_frame([d, bad])
    assert list(df.columns) == frames.manifests.REFERRER_COLUMNS
    assert df.loc[0, "created"] == pd.Timestamp("2024-05-01T10:00:00Z")
    assert pd.isna(df.loc[1, "created"]) and df.loc[0, "artifact_type"] == "application/spdx+json"
