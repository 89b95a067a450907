"""The census's pure parts: the analysis frames, tag selection, the Parquet journal; a census of a Layout."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import registry_explorer as rx
from registry_explorer.census_engine.journal import part_path
from registry_explorer.census_engine.run import _pick_tags
from registry_explorer.census_engine.store import JOURNAL, ParquetSink
from registry_explorer.frames.census_tables import base_images, census_frame, layer_sharing, tag_timeline


def _layers(images):
    """layers rows from (repository, tag, manifest, [(layer digest, size), ...])."""
    rows = []
    for repo, tag, manifest, layers in images:
        for i, (digest, size) in enumerate(layers):
            rows.append({"repository": repo, "tag": tag, "manifest_digest": manifest, "index": i, "digest": digest,
                         "size": size, "media_type": "application/vnd.oci.image.layer.v1.tar+gzip"})
    return census_frame("layers", rows)


def test_layer_sharing_counts_each_image_once_and_sums_bytes():
    df = _layers([("r1", "1.0", "m1", [("b1", 100), ("x", 10)]),
                  ("r1", "latest", "m1", [("b1", 100), ("x", 10)]),  # the same manifest under a second tag
                  ("r2", "1.0", "m2", [("b1", 100), ("y", 20)])])
    out = layer_sharing(df)
    b1 = out[out["digest"] == "b1"].iloc[0]
    assert (b1["images"], b1["repositories"], b1["tags"], b1["saved_bytes"]) == (2, 2, 3, 100)
    assert out["digest"].tolist()[0] == "b1"  # most shared first
    assert out.attrs == {"total_bytes": 230, "unique_bytes": 130, "shared_ratio": 130 / 230}
    assert layer_sharing(df.iloc[0:0]).attrs["total_bytes"] == 0


def test_base_images_groups_by_the_longest_prefix_shared_across_repositories():
    df = _layers([("r1", "1", "m1", [("b1", 5), ("b2", 7), ("a", 1)]),
                  ("r2", "1", "m2", [("b1", 5), ("b2", 7), ("c", 1)]),
                  ("r2", "2", "m3", [("b1", 5), ("b2", 7), ("c2", 1)]),
                  ("r3", "1", "m4", [("b1", 5), ("d", 1)]),
                  ("r4", "1", "m5", [("z", 3)])])
    out = base_images(df).set_index("base", drop=False)
    assert out.loc["b2", ["base_layers", "base_size", "images", "repositories"]].tolist() == [2, 12, 3, 2]
    assert out.loc["b2", "repository_names"] == "r1, r2"
    assert out.loc["b1", ["base_layers", "images", "repository_names"]].tolist() == [1, 1, "r3"]
    alone = out[out["base"].isna()]
    assert alone[["base_layers", "images", "repository_names"]].values.tolist() == [[0, 1, "r4"]]
    # with a higher bar, r1 and r2 fall back to the prefix all three repositories share
    strict = base_images(df, min_repositories=3).set_index("base")
    assert strict.loc["b1", "images"] == 4


def test_tag_timeline_orders_by_creation_and_flags_digest_changes():
    tags = census_frame("tags", [{"repository": "r", "tag": t, "digest": d} for t, d in
                                 [("v2", "d2"), ("v1", "d1"), ("latest", "d2")]])
    configs = census_frame("configs", [
        {"repository": "r", "tag": "v1", "created": "2024-01-01T00:00:00Z", "os": "linux"},
        {"repository": "r", "tag": "v2", "created": "2024-01-08T00:00:00Z", "os": "linux"},
        {"repository": "r", "tag": "v2", "created": "2023-01-01T00:00:00Z", "os": "unknown"},  # an attestation
        {"repository": "r", "tag": "latest", "created": "2024-01-08T00:00:00Z", "os": "linux"}])
    out = tag_timeline(tags, configs)
    assert out["tag"].tolist() == ["v1", "latest", "v2"]
    assert out["digest_changed"].tolist() == [False, True, False]
    assert out["previous_tag"].tolist() == [None, "v1", "latest"]
    assert out["days_since_previous"].tolist()[1:] == [7.0, 0.0]


def test_pick_tags_natural_order_newest_n_and_filters():
    names = ["v1.10", "v1.9", "v1.2", "latest"]
    assert _pick_tags(names, None) == ["latest", "v1.2", "v1.9", "v1.10"]
    assert _pick_tags(names, 2) == ["v1.9", "v1.10"]
    assert _pick_tags(names, 0) == []
    assert _pick_tags(names, lambda t: t.startswith("v1.1")) == ["v1.10"]
    for bad in (True, -1, "2"):
        with pytest.raises(ValueError):
            _pick_tags(names, bad)


def test_census_frame_rejects_unknown_tables_and_keeps_columns():
    with pytest.raises(ValueError, match="unknown census table"):
        census_frame("nope", [])
    assert list(census_frame("errors", [])) == ["repository", "tag", "error", "message"]


def test_parquet_journal_drops_orphan_files_and_a_torn_line(tmp_path):
    pytest.importorskip("pyarrow")
    meta = {"include": ["tags"]}
    sink = ParquetSink(tmp_path, ("tags",), meta)
    sink.write("a/b", ["1"], {"tags": [{"repository": "a/b", "tag": "1", "digest": "sha256:1"}]}, listed=False)
    # a killed run: a chunk file written, its journal line torn half-way
    orphan = tmp_path / part_path("tags", "a/b", 2)
    orphan.write_bytes((tmp_path / part_path("tags", "a/b", 1)).read_bytes())
    with open(tmp_path / JOURNAL, "a") as f:
        f.write('{"seq": 2, "repository": "a/b", "tags": ["2"')
    again = ParquetSink(tmp_path, ("tags",), meta)
    assert again.done == {("a/b", "1")}
    assert not orphan.exists()
    assert again.read("tags")["tag"].tolist() == ["1"]
    assert pd.read_parquet(tmp_path / "tags")["repository"].astype(str).tolist() == ["a/b"]
    assert all(json.loads(line) for line in (tmp_path / JOURNAL).read_text().splitlines())
    with pytest.raises(ValueError, match="other settings"):
        ParquetSink(tmp_path, ("tags",), {"include": ["layers"]})


def test_census_of_a_layout(tmp_path):
    from registry_explorer.sandbox.samples import build_images, write_layout

    images = build_images(cached=True)
    path = write_layout(images["multi"], tmp_path / "layout")
    layout = rx.Layout(path)
    got = rx.census(layout, progress=False)
    assert got.errors.empty
    assert sorted(got.tags["tag"]) == sorted(layout.tags())
    multi = got.platforms[got.platforms["tag"] == images["multi"].tag]
    assert len(multi) == len(images["multi"].root.json()["manifests"])
    assert set(got.configs["architecture"]) >= {"amd64", "arm64", "arm"}


def test_settings_carry_no_secret_and_workers_resolve_a_named_provider():
    import pickle

    from registry_explorer.census_engine.unit import SourceSettings, settings_for, source_for

    cl = rx.Client(credentials={"registry.example": ("me", "hunter2-secret")}, docker_config={},
                   insecure=("127.0.0.1:5000",), timeout=12.0, retries=2)
    settings = settings_for(cl, credential_provider="helpers.census:demo_credentials")
    blob = pickle.dumps(settings)
    assert b"hunter2" not in blob  # the secret stays in this process
    assert settings.insecure == ("127.0.0.1:5000",) and settings.timeout[1] == 12.0
    worker = source_for(pickle.loads(blob))
    assert worker is not cl and worker is source_for(settings)  # built once per process
    assert worker.credentials.get("registry.example").username == "worker-user"
    assert worker.transport.insecure == frozenset({"127.0.0.1:5000"})
    with pytest.raises(ValueError):
        source_for(SourceSettings(credential_provider="helpers.census"))


class _Catalog:
    def __init__(self, names, fail=False):
        self.names, self.fail, self.asked = names, fail, 0

    def catalog(self, registry):
        self.asked += 1
        if self.fail:
            raise rx.Unauthorized("catalog refused")
        return self.names


def test_repository_selection_names_globs_and_catalog_failures():
    from registry_explorer.census_engine.run import _repositories

    src = _Catalog(["team/a", "team/b", "other/c"])
    errors: list = []
    assert _repositories(src, "h", ["x/y", "team/a"], errors) == ["x/y", "team/a"] and src.asked == 0
    assert _repositories(src, "h", "team/*", errors) == ["team/a", "team/b"]
    assert _repositories(src, "h", ["gone/z", "team/*"], errors) == ["gone/z", "team/a", "team/b"]
    assert _repositories(src, "h", None, errors) == ["other/c", "team/a", "team/b"]
    assert errors == []
    bad = _Catalog([], fail=True)
    assert _repositories(bad, "h", ["keep/me", "t/*"], errors) == ["keep/me"]
    assert [e["error"] for e in errors] == ["Unauthorized"]
