"""Issue 21, class 7: the error contract, as a property.

Every public call raises only the package's error tree (`core/errors.py`) - or ValueError for bad
*user* input, and these calls are given none. A hostile server (helpers.hostile_docs) serves one
repository whose documents hypothesis mutates: JSON structure and values (lone surrogates, NaN,
integers past int64, wrong types, missing keys, a 100,000-deep array), raw bytes (truncated,
not JSON, UTF-16, a BOM), the layer's tar (hostile names, types, PAX records), the eStargz TOC, and
the wire (headers, statuses, Content-Length). Parents are rebuilt over mutated children, so a
mutation passes digest verification and reaches the parser. Then every call below runs, and
anything that is not a RegistryExplorerError fails the property with the plan that caused it.
"""

from __future__ import annotations

import os
import tempfile

import pytest
from helpers.hostile import plain_client, recording_server
from helpers.hostile_docs import DOCS, REPO, Plan, World, plans, serve
from hypothesis import HealthCheck, given, settings

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.census_engine.store import ParquetSink
from registry_explorer.census_engine.unit import run_unit
from registry_explorer.frames.census_tables import TABLES, census_frame
from registry_explorer.supply.buildkit import decode_attestation_manifest, decode_index_attestations
from registry_explorer.supply.documents import open_row

EXAMPLES = int(os.environ.get("RX_HOSTILE_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") == "true",
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _supply(c, ref):
    rows = frames.supply_chain(c, ref)
    for row in rows.to_dict("records"):
        if isinstance(row.get("digest"), str):
            _in_tree(lambda row=row: open_row(c, ref, row), f"open_row {row.get('found')}")
    return rows


def _decoders(c, repo):
    index = c.manifest(f"{repo}:v1")
    decode_index_attestations(index.raw)
    for d in getattr(index, "manifests", []):
        if d.annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            decode_attestation_manifest(c.manifest(f"{repo}@{d.digest}", descriptor=d).raw)


def _census_unit(c, host):
    """One unit's rows, as DataFrames and through Parquet (where a value of the wrong type would not fit)."""
    rows = {t: rs for t, rs in run_unit(c, host, REPO, "v1", TABLES).items() if not t.startswith("_")}
    with tempfile.TemporaryDirectory() as out:
        sink = ParquetSink(out, TABLES, {})
        sink.write(REPO, ["v1"], rows, listed=False)
        for t in rows:
            sink.read(t)
    return {t: census_frame(t, rs) for t, rs in rows.items()}


def _files(c, img):
    m = c.image(img)
    return [frames.files(c, img, d) for d in m.layers]


def _pure_frames(c, img):
    m = c.image(img)
    config = c.config(m)
    return frames.layers(m, config), frames.history(config, m), frames.platforms(m), m._repr_html_()


def calls(c, host: str, world: World) -> dict:
    """Every public call of the brief against the served repository (names for the failure report)."""
    repo, v1, img = f"{host}/{REPO}", f"{host}/{REPO}:v1", f"{host}/{REPO}:img"
    return {
        "manifest": lambda: c.manifest(v1), "manifest-by-digest": lambda: c.manifest(f"{repo}@{world.image}"),
        "resolve": lambda: c.resolve(v1), "image": lambda: c.image(v1),
        "image-arm64": lambda: c.image(v1, platform="linux/arm64"), "config": lambda: c.config(v1),
        "tags": lambda: c.tags(repo), "catalog": lambda: c.catalog(host),
        "referrers": lambda: c.referrers(f"{repo}@{world.subject}"),
        "read_file": lambda: c.read_file(img, "etc/passwd"), "read_file-symlink": lambda: c.read_file(img, "bin/sh"),
        "read_file-estargz": lambda: c.read_file(img, "opt/app/data.txt"),
        "read_file-estargz-link": lambda: c.read_file(img, "opt/app/link", limit=10),
        "open_file": lambda: c.open_file(v1, "etc/os-release").read(),
        "frames.files": lambda: _files(c, img), "frames.image_files": lambda: frames.image_files(c, v1),
        "frames.wasted": lambda: frames.wasted(c, img), "frames.tags": lambda: frames.tags(c, repo),
        "frames.referrers": lambda: frames.referrers(c, f"{repo}@{world.subject}"),
        "frames.compare": lambda: frames.compare(c, img, v1), "frames.pure": lambda: _pure_frames(c, img),
        "frames.supply_chain": lambda: _supply(c, v1), "supply decoders": lambda: _decoders(c, repo),
        "census unit": lambda: _census_unit(c, host),
    }


FAILURES: list[str] = []


def _in_tree(call, name: str):
    try:
        return call()
    except rx.RegistryExplorerError:
        return None
    except Exception as exc:  # noqa: BLE001 - the property: nothing else may escape
        FAILURES.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
        raise AssertionError(f"{name} raised {type(exc).__name__}: {exc!r}"[:600]) from exc


def check(plan: Plan, only: tuple[str, ...] | None = None) -> None:
    world = World.build(plan)
    with recording_server(serve(world, plan)) as srv:
        c = plain_client(insecure=(srv.host,), timeout=5)
        for name, call in calls(c, srv.host, world).items():
            if only is None or name in only:
                _in_tree(call, name)


def test_the_unmutated_world_works():
    """Control: with nothing broken every call succeeds, so the property's calls do reach their parsers."""
    plan = Plan()
    world = World.build(plan)
    with recording_server(serve(world, plan)) as srv:
        c = plain_client(insecure=(srv.host,), timeout=5)
        results = {name: call() for name, call in calls(c, srv.host, world).items() if name != "image-arm64"}
    assert results["read_file"].startswith(b"root:") and results["read_file-estargz"].startswith(b"stargz data")
    assert results["read_file-symlink"].startswith(b"\x7fELF")
    assert results["tags"] == ["v1", "img"] and results["catalog"] == [REPO]
    assert [d.artifact_type for d in results["referrers"]] == ["application/vnd.dev.cosign.artifact.sig.v1+json"]
    assert set(results["frames.supply_chain"]["found"]) >= {"index attestation", "referrers API"}
    assert len(results["census unit"]["layers"]) == 3 and results["census unit"].get("errors") is None


@SETTINGS
@given(plans(docs=("index", "manifest", "config", "attestation", "statement", "signature", "referrers")))
def test_documents_mutated_stay_in_the_error_tree(plan):
    check(plan)


@SETTINGS
@given(plans(docs=("layer", "toc"), wire=False))
def test_layers_and_tocs_mutated_stay_in_the_error_tree(plan):
    check(plan, only=("read_file", "read_file-symlink", "read_file-estargz", "read_file-estargz-link", "open_file",
                      "frames.files", "frames.image_files", "frames.wasted", "frames.compare", "census unit"))


@SETTINGS
@given(plans(docs=DOCS))
def test_anything_mutated_with_the_wire_stays_in_the_error_tree(plan):
    check(plan)


# Members of the class found by the properties above, pinned so they stay fixed (each ran red first).
PINNED = {
    "lone-surrogate-tag": Plan(json={"tags": lambda d: {**d, "tags": ["v1", "bad\ud800tag"]}}),
    "lone-surrogate-annotation": Plan(json={"manifest": lambda d: {**d, "annotations": {"k": "\udfff"}}}),
    "toc-entry-no-digest": Plan(json={"toc": lambda d: {**d, "entries": [
        {**e, "digest": None, "chunkDigest": None} if e.get("type") == "reg" else e for e in d["entries"]]}}),
    "toc-entry-unknown-algorithm": Plan(json={"toc": lambda d: {**d, "entries": [
        {**e, "chunkDigest": "blake3:" + "0" * 64, "digest": "blake3:" + "0" * 64} if e.get("type") == "reg" else e
        for e in d["entries"]]}}),
    "deep-json-config": Plan(raw={"config": lambda b: b"[" * 100_000 + b"]" * 100_000}),
    "nan-size": Plan(json={"manifest": lambda d: {**d, "layers": [{**d["layers"][0], "size": float("nan")}]}}),
    "embedded-data-unknown-algorithm": Plan(json={"manifest": lambda d: {**d, "config": {
        **d["config"], "digest": "md5:0123", "size": 2, "data": "e30="}}}),
    "deep-json-toc": Plan(raw={"toc": lambda b: b"[" * 100_000 + b"]" * 100_000}),
    "media-type-not-a-string": Plan(json={"signature": lambda d: {**d, "layers": [
        {**d["layers"][0], "mediaType": ["x"]}], "config": {**d["config"], "mediaType": {"a": 1}}}}),
    "config-fields-of-the-wrong-type": Plan(json={"config": lambda d: {
        **d, "os": 5, "variant": ["v7"], "created": 1.5, "config": {"User": 0, "WorkingDir": {}, "Cmd": "sh"},
        "history": [{"created_by": 7, "created": False}]}}),
    "platform-fields-of-the-wrong-type": Plan(json={"index": lambda d: {**d, "manifests": [
        {**m, "platform": {**m["platform"], "variant": 7, "os.version": ["x"]}} for m in d["manifests"]]}}),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_members_of_the_class(name):
    check(PINNED[name])
